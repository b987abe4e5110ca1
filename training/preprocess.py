"""Pixels to model input: the one Python implementation of docs/PROTOCOL.md "Model input".

The float Keras model is trained on ``pixels / 255``. After full-integer quantisation the
model's int8 input has scale 1/255 and zero point -128, so the int8 value for a pixel is
``round(pixel / 255 / (1/255)) - 128 = pixel - 128``: the firmware's ``pk_preprocess``
does exactly that, byte for byte.
"""

from __future__ import annotations

import numpy as np

INPUT_SCALE = 1.0 / 255.0
INPUT_ZERO_POINT = -128


def _check_pixels(pixels: np.ndarray) -> np.ndarray:
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        raise TypeError(f"pixels must be uint8, not {pixels.dtype}")
    return pixels


def to_model_input(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels -> int8 model input ``pixel - 128``, same shape (0 -> -128, 255 -> 127)."""
    pixels = _check_pixels(pixels)
    return (pixels.astype(np.int16) + INPUT_ZERO_POINT).astype(np.int8)


def to_float_input(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels -> float32 ``pixel / 255`` in [0, 1], what the float model is trained on."""
    pixels = _check_pixels(pixels)
    return pixels.astype(np.float32) * np.float32(INPUT_SCALE)
