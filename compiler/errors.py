"""The one error type the compiler raises for models it cannot compile."""


class UnsupportedModelError(ValueError):
    """The model uses something the compiler does not support; the message names the
    file, the operator index and name, and the tensor involved."""
