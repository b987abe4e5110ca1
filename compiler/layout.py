"""Constants re-laid out for the kernels' load patterns (firmware/engine/include/
pk_engine_packed.h), decided at compile time so that a kernel call does no preparation.

Called once, at the end of compiler.lower.lower(). A layer whose quantization admits the
fast requantization on every channel (the compiler's accumulator bound proves it exact,
as pk_requant_fast_ok does in C) gets the packed kernel: each output channel's weights,
zero-padded to a multiple of 4, followed by its requantization table {2 * folded bias,
multiplier, round, e}, so the kernel walks one pointer through weights and table. Other
layers keep their plain kernel. Either way the results are the same bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # lower.py imports this module
    from compiler.lower import Step

INT32_MAX = 2**31 - 1
PACKED_KERNELS = {"pk_conv2d_1x1_s8": "pk_conv2d_1x1_s8_packed",
                  "pk_conv2d_s8": "pk_conv2d_s8_packed",
                  "pk_depthwise_conv2d_s8": "pk_depthwise_conv2d_s8_packed"}


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def requant_fast_ok(acc_abs_max: int, shift: int) -> bool:
    """pk_requant_fast_ok (pk_requantize.h): the fast requantization is exact for every
    accumulator |acc| <= acc_abs_max."""
    if acc_abs_max <= 0 or shift > -1 or shift < -31:
        return False
    return 2 * acc_abs_max <= INT32_MAX and acc_abs_max + 2 + 129 * (1 << -shift) <= INT32_MAX


def packed_row_bytes(k: int) -> int:
    """PK_PACKED_ROW_BYTES: k weights padded to 4, then the 16-byte table."""
    return _align(k, 4) + 16


# Scratch formulas: keep equal to the PK_*_PACKED_SCRATCH_BYTES macros of
# pk_engine_packed.h (a kernel given less returns PK_ERR_ARG).
def conv2d_1x1_packed_scratch(ic: int, oc: int) -> int:
    return 12 * _align(ic, 4) + _align(6 * oc, 4)


def conv2d_packed_scratch(kh: int, kw: int, ic: int, oc: int) -> int:
    return 13 * _align(kh * kw * ic, 4) + 4 + _align(6 * oc, 4)


def depthwise_packed_scratch(kh: int, kw: int, stride_w: int, dilation_w: int, ow: int,
                             c: int) -> int:
    return 2 * kh * ((ow - 1) * stride_w + (kw - 1) * dilation_w + 1) * c


def depthwise_mve_scratch(kh: int, kw: int, stride_w: int, dilation_w: int, ow: int,
                          c: int) -> int:
    """PK_DEPTHWISE_PACKED_MVE_SCRATCH_BYTES (pk_engine_packed.h): the Helium variant's
    window rows of every channel and slack."""
    return (kh * ((ow - 1) * stride_w + (kw - 1) * dilation_w + 1) + 8 * stride_w) * c


def _table(bias: np.ndarray, multiplier: np.ndarray, shift: np.ndarray,
           output_zero_point: int) -> np.ndarray:
    """int64 [channels, 4]: {2 * bias, multiplier, 2^(e-1) + zp * 2^e, e}, e = -shift."""
    e = -shift.astype(np.int64)
    table = np.stack([2 * bias.astype(np.int64), multiplier.astype(np.int64),
                      (1 << (e - 1)) + int(output_zero_point) * (1 << e), e], axis=1)
    assert table.min() >= -(2**31) and table.max() <= INT32_MAX, "checked by requant_fast_ok"
    return table


def pack_depthwise(weights: np.ndarray, bias: np.ndarray, multiplier: np.ndarray,
                   shift: np.ndarray, output_zero_point: int) -> np.ndarray:
    """int8 [groups * PK_DW_GROUP_BYTES(taps)] (pk_engine_packed.h): weights [taps, C],
    C a multiple of 4; per group of 4 channels: bias2[4], per tap the doubled weights as
    int16 pairs (c0, c2), (c1, c3), then {multiplier, round, e} per channel."""
    channels = weights.shape[1]
    table = _table(bias, multiplier, shift, output_zero_point)  # [C, 4]
    w2 = 2 * weights.astype(np.int64)
    groups = []
    for g in range(channels // 4):
        c = slice(4 * g, 4 * g + 4)
        t = table[c]
        halves = np.ascontiguousarray(w2[:, c][:, [0, 2, 1, 3]])  # per tap: c0, c2, c1, c3
        groups.append(np.concatenate([np.ascontiguousarray(t[:, 0]).astype("<i4").view(np.int8),
                                      halves.astype("<i2").view(np.int8).reshape(-1),
                                      np.ascontiguousarray(t[:, 1:]).astype("<i4").view(np.int8)
                                      .reshape(-1)]))
    return np.concatenate(groups)


def pack_rows(weights: np.ndarray, bias: np.ndarray, multiplier: np.ndarray,
              shift: np.ndarray, output_zero_point: int) -> np.ndarray:
    """int8 [channels, packed_row_bytes(k)]: weights [channels, k] padded with zeros, then
    {2 * bias, multiplier, 2^(e-1) + zp * 2^e, e} as little-endian int32, e = -shift."""
    channels, k = weights.shape
    k4 = _align(k, 4)
    table = _table(bias, multiplier, shift, output_zero_point)
    rows = np.zeros((channels, k4 + 16), dtype=np.int8)
    rows[:, :k] = weights
    rows[:, k4:] = table.astype("<i4").view(np.int8).reshape(channels, 16)
    return rows


def _packable(step: Step) -> bool:
    p = step.params
    if step.kernel == "pk_depthwise_conv2d_s8" and (p["depth_multiplier"] != 1
                                                     or step.dims["out"][3] % 4):
        return False
    return (step.kernel in PACKED_KERNELS and p.get("rounding") == "PK_ROUND_DOUBLE"
            and all(requant_fast_ok(int(p["acc_abs_max"]), int(s)) for s in step.consts["shift"]))


def _placeholder() -> np.ndarray:
    return np.zeros(1, dtype=np.int32)


def _relayout_depthwise(step: Step) -> None:
    c, p = step.consts, step.params
    _, kh, kw, oc = step.dims["filter"]
    c["filter"] = pack_depthwise(np.asarray(c["filter"]).reshape(kh * kw, oc), c["bias"],
                                 c["multiplier"], c["shift"], int(p["output_zero_point"]))
    geometry = (kh, kw, int(p["stride_w"]), int(p["dilation_w"]), step.dims["out"][2])
    # Scratch sizes (pk_engine_packed.h): the least the kernel accepts (one group of 4
    # channels, the DSP variant re-widening every window row); what the Helium variant
    # needs (the window rows of every channel once); the DSP variant's full speed (every
    # group keeps its rows from one output row to the next,
    # depthwise_packed_scratch(*geometry, oc)). The default is the middle one.
    scratch_min = depthwise_packed_scratch(*geometry, 4)
    step.scratch = max(scratch_min, depthwise_mve_scratch(*geometry, oc))


def _relayout_matrix(step: Step) -> None:
    """Pointwise and general convolutions: rows of weights, each with its table."""
    c = step.consts
    oc, kh, kw, ic = step.dims["filter"]
    c["filter"] = pack_rows(np.asarray(c["filter"]).reshape(oc, -1), c["bias"], c["multiplier"],
                            c["shift"], int(step.params["output_zero_point"]))
    step.scratch = (conv2d_1x1_packed_scratch(ic, oc) if step.kernel == "pk_conv2d_1x1_s8"
                    else conv2d_packed_scratch(kh, kw, ic, oc))


def relayout(steps: list[Step]) -> list[Step]:
    """Give every layer that qualifies its packed kernel and constants (in place)."""
    for step in steps:
        if not _packable(step):
            continue
        if step.kernel == "pk_depthwise_conv2d_s8":
            _relayout_depthwise(step)
        else:
            _relayout_matrix(step)
        # pk_engine_packed.h: bias, multiplier and shift are not read; one-element arrays
        # keep the generated code's shape.
        c = step.consts
        c["bias"], c["multiplier"], c["shift"] = _placeholder(), _placeholder(), _placeholder()
        step.kernel = PACKED_KERNELS[step.kernel]
    return steps
