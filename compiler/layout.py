"""Constants re-laid out for the kernels' load patterns (firmware/engine/include/
pk_engine_packed.h), decided at compile time so that a kernel call does no preparation.

Called once, at the end of compiler.lower.lower(). A layer whose quantization admits the
fast requantization on every channel (the compiler's accumulator bound proves it exact,
as pk_requant_fast_ok does in C) gets the packed kernel: each output channel's weights,
zero-padded to a multiple of 8, followed by its requantization table {2 * folded bias,
multiplier, round, e}, so the kernel walks one pointer through weights and table. Other
layers keep their plain kernel. Either way the results are the same bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # lower.py imports this module
    from compiler.lower import Step

INT32_MAX = 2**31 - 1
PACKED_KERNELS = {"pk_conv2d_1x1_s8": "pk_conv2d_1x1_s8_packed"}


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def requant_fast_ok(acc_abs_max: int, shift: int) -> bool:
    """pk_requant_fast_ok (pk_requantize.h): the fast requantization is exact for every
    accumulator |acc| <= acc_abs_max."""
    if acc_abs_max <= 0 or shift > -1 or shift < -31:
        return False
    return 2 * acc_abs_max <= INT32_MAX and acc_abs_max + 2 + 129 * (1 << -shift) <= INT32_MAX


def packed_row_bytes(k: int) -> int:
    """PK_PACKED_ROW_BYTES: k weights padded to 8, then the 16-byte table."""
    return _align(k, 8) + 16


def conv2d_1x1_packed_scratch(ic: int, oc: int) -> int:
    """PK_CONV2D_1X1_PACKED_SCRATCH_BYTES (pk_engine_packed.h): keep the two equal."""
    return 12 * _align(ic, 8) + _align(6 * oc, 4)


def pack_rows(weights: np.ndarray, bias: np.ndarray, multiplier: np.ndarray,
              shift: np.ndarray, output_zero_point: int) -> np.ndarray:
    """int8 [channels, packed_row_bytes(k)]: weights [channels, k] padded with zeros, then
    {2 * bias, multiplier, 2^(e-1) + zp * 2^e, e} as little-endian int32, e = -shift."""
    channels, k = weights.shape
    k8 = _align(k, 8)
    e = -shift.astype(np.int64)
    table = np.stack([2 * bias.astype(np.int64), multiplier.astype(np.int64),
                      (1 << (e - 1)) + int(output_zero_point) * (1 << e), e], axis=1)
    assert table.min() >= -(2**31) and table.max() <= INT32_MAX, "checked by requant_fast_ok"
    rows = np.zeros((channels, k8 + 16), dtype=np.int8)
    rows[:, :k] = weights
    rows[:, k8:] = table.astype("<i4").view(np.int8).reshape(channels, 16)
    return rows


def _packable(step: Step) -> bool:
    p = step.params
    return (step.kernel in PACKED_KERNELS and p.get("rounding") == "PK_ROUND_DOUBLE"
            and all(requant_fast_ok(int(p["acc_abs_max"]), int(s)) for s in step.consts["shift"]))


def _placeholder() -> np.ndarray:
    return np.zeros(1, dtype=np.int32)


def relayout(steps: list[Step]) -> list[Step]:
    """Give every layer that qualifies its packed kernel and constants (in place)."""
    for step in steps:
        if not _packable(step):
            continue
        c = step.consts
        oc = int(c["bias"].shape[0])
        weights = np.asarray(c["filter"]).reshape(oc, -1)
        c["filter"] = pack_rows(weights, c["bias"], c["multiplier"], c["shift"],
                                int(step.params["output_zero_point"]))
        # pk_engine_packed.h: bias, multiplier and shift are not read; one-element arrays
        # keep the generated code's shape.
        c["bias"], c["multiplier"], c["shift"] = _placeholder(), _placeholder(), _placeholder()
        step.kernel = PACKED_KERNELS[step.kernel]
        _, _, _, ic = step.dims["in"]
        step.scratch = conv2d_1x1_packed_scratch(ic, oc)
    return steps
