"""Quantization arithmetic done once on the host, exactly as TFLite's Prepare step does it."""

from __future__ import annotations

import math

import numpy as np

INT8_MIN, INT8_MAX = -128, 127

# tflite ActivationFunctionType values
ACT_NONE, ACT_RELU, ACT_RELU_N1_TO_1, ACT_RELU6 = 0, 1, 2, 3
SUPPORTED_ACTIVATIONS = {ACT_NONE: "NONE", ACT_RELU: "RELU", ACT_RELU_N1_TO_1: "RELU_N1_TO_1",
                         ACT_RELU6: "RELU6"}


def round_half_away(x: float) -> int:
    """std::round: halves go away from zero (Python's round() goes to even)."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """A real multiplier as (Q31 mantissa, power-of-two shift), like TFLite's
    QuantizeMultiplier: real = mantissa * 2^(shift - 31)."""
    if real == 0.0:
        return 0, 0
    mantissa, shift = math.frexp(real)
    q = round_half_away(mantissa * (1 << 31))
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return (1 << 31) - 1, 30
    return q, shift


def channel_multipliers(input_scale: float, filter_scales: np.ndarray, output_scale: float,
                        channels: int) -> tuple[list[int], list[int]]:
    """Per-output-channel (multiplier, shift) lists; a per-tensor filter scale is repeated.
    The effective scale is computed in double from float32 scales, as TFLite does."""
    scales = np.broadcast_to(np.asarray(filter_scales, dtype=np.float32), (channels,))
    mults, shifts = [], []
    for s in scales:
        real = (float(np.float32(input_scale)) * float(s)) / float(np.float32(output_scale))
        m, sh = quantize_multiplier(real)
        mults.append(m)
        shifts.append(sh)
    return mults, shifts


def activation_range(activation: int, scale: float, zero_point: int) -> tuple[int, int]:
    """The int8 clamp of a fused activation (TFLite's CalculateActivationRangeQuantized)."""

    def quantize(f: float) -> int:
        # float32 division and std::round on float, as in TFLite
        return int(zero_point) + round_half_away(float(np.float32(f) / np.float32(scale)))

    if activation == ACT_NONE:
        return INT8_MIN, INT8_MAX
    if activation == ACT_RELU:
        return max(INT8_MIN, quantize(0.0)), INT8_MAX
    if activation == ACT_RELU6:
        return max(INT8_MIN, quantize(0.0)), min(INT8_MAX, quantize(6.0))
    if activation == ACT_RELU_N1_TO_1:
        return max(INT8_MIN, quantize(-1.0)), min(INT8_MAX, quantize(1.0))
    raise ValueError(f"unsupported fused activation {activation}")


def same_padding(stride: int, dilation: int, in_size: int, filter_size: int, out_size: int) -> int:
    """Leading padding; any odd extra goes to the bottom/right (TFLite's ComputePadding)."""
    effective = (filter_size - 1) * dilation + 1
    total = (out_size - 1) * stride + effective - in_size
    return max(int(total / 2), 0)  # C division truncates toward zero


SOFTMAX_DIFF_INT_BITS = 5  # the kernel's exp() argument has 5 integer bits


def softmax_scaling(beta: float, input_scale: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) for the int8 softmax kernel, as
    TFLite's PreprocessSoftmaxScaling and CalculateInputRadius compute them."""
    real = min(float(np.float32(beta)) * float(np.float32(input_scale))
               * (1 << (31 - SOFTMAX_DIFF_INT_BITS)), (1 << 31) - 1.0)
    multiplier, shift = quantize_multiplier(real)
    if shift < 0:
        raise ValueError(f"softmax input scaling {real} is below one")
    radius = ((1 << SOFTMAX_DIFF_INT_BITS) - 1) * (1 << (31 - SOFTMAX_DIFF_INT_BITS)) / (1 << shift)
    return multiplier, shift, -math.floor(radius)


def _srdhm(a: int, b: int) -> int:
    """TFLite's SaturatingRoundingDoublingHighMul on Python ints."""
    if a == b == -(1 << 31):
        return (1 << 31) - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    q = abs(ab + nudge) // (1 << 31)  # division truncating toward zero
    return q if ab + nudge >= 0 else -q


def _rdbp(x: int, exponent: int) -> int:
    """TFLite's RoundingDivideByPOT: x / 2^exponent, halves away from zero."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def _wrap32(x: int) -> int:
    return (x + (1 << 31)) % (1 << 32) - (1 << 31)


def requantize(acc: int, multiplier: int, shift: int, rounding: str) -> int:
    """What the engine's pk_requantize (PK_ROUND_DOUBLE) or pk_requantize_single
    (PK_ROUND_SINGLE) returns for one accumulator: the reference on the host."""
    if rounding == "PK_ROUND_SINGLE":
        total = 31 - shift
        return (acc * multiplier + (1 << (total - 1))) >> total
    left, right = max(shift, 0), max(-shift, 0)
    return _rdbp(_srdhm(_wrap32(acc << left), multiplier), right)
