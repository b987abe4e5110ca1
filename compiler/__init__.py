"""Ahead-of-time compiler: full-int8 .tflite -> C source with a static memory plan.

All decisions (multipliers, shifts, folded biases, padding, buffer offsets) are made here,
on the host; the generated C only calls kernels with constants.
"""

from compiler.compile import CompileResult, compile_model
from compiler.errors import UnsupportedModelError

__all__ = ["CompileResult", "UnsupportedModelError", "compile_model"]
