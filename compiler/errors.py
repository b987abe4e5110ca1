"""The one error type the compiler raises for models it cannot compile."""

from peekless.errors import UserError


class UnsupportedModelError(UserError, ValueError):
    """The model uses something the compiler does not support; the message (one line)
    names the file, the operator index and name, or the tensor involved, and what is
    supported. A UserError: `peekless compile` prints it as one line and exits 2."""
