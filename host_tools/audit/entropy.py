"""Check 4, ``entropy``: an entropy and compressibility screen of what the device sent.

The declared records carry, by construction, one label bit per frame (their CRCs and
sequence numbers are functions of that). Everything else -- bytes outside valid records
-- is measured: its Shannon entropy per byte and how far zlib can shrink it, in windows
of 256 bytes, and its total information estimated as its zlib-compressed size. The check
fails when a window looks compressed or encrypted (>= 7 bits/byte and zlib cannot
shrink it), or when the estimated information in the whole output exceeds the declared
budget times the number of frames.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from ..protocol import Decision, Garbage, Hello, Span
from .report import CheckResult, Findings

WINDOW = 256
HIGH_ENTROPY_BITS = 7.0
INCOMPRESSIBLE_RATIO = 0.98
#: Bytes zlib adds to any stream (2-byte header, 4-byte adler32, block header).
ZLIB_OVERHEAD = 8


def shannon_bits_per_byte(data: bytes) -> float:
    if not data:
        return 0.0
    counts = np.bincount(np.frombuffer(data, np.uint8), minlength=256)
    p = counts[counts > 0] / len(data)
    return float(-(p * np.log2(p)).sum())


def compressed_bits(data: bytes) -> int:
    """Information in ``data`` estimated by zlib (level 9), in bits; 0 for no bytes."""
    if not data:
        return 0
    return 8 * max(1, len(zlib.compress(data, 9)) - ZLIB_OVERHEAD)


def _label_entropy(labels: list[bool]) -> float:
    if not labels:
        return 0.0
    p = sum(labels) / len(labels)
    if p in (0.0, 1.0):
        return 0.0
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def check_entropy(capture: bytes, spans: list[Span], n_frames: int) -> CheckResult:
    f = Findings()
    garbage = [s for s in spans if isinstance(s.item, Garbage)]
    residual = b"".join(capture[s.offset : s.end] for s in garbage)
    labels = [s.item.person for s in spans if isinstance(s.item, Decision)]
    hello = next((s.item for s in spans if isinstance(s.item, Hello)), None)
    budget = hello.leak_budget_bits if hello is not None else 1

    high = 0
    for s in garbage:
        chunk = capture[s.offset : s.end]
        for i in range(0, max(0, len(chunk) - WINDOW) + 1, WINDOW):
            win = chunk[i : i + WINDOW]
            if len(win) < WINDOW:
                break
            h = shannon_bits_per_byte(win)
            ratio = (len(zlib.compress(win, 9)) - ZLIB_OVERHEAD) / len(win)
            if h >= HIGH_ENTROPY_BITS and ratio >= INCOMPRESSIBLE_RATIO:
                high += 1
                f.add(
                    f"capture offset {s.offset + i}..{s.offset + i + WINDOW - 1}: "
                    f"{WINDOW} bytes outside records at {h:.2f} bits/byte that zlib cannot "
                    f"shrink (ratio {ratio:.2f}): compressed, encrypted or raw sensor data"
                )

    label_bits = len(labels) * _label_entropy(labels)
    residual_bits = compressed_bits(residual)
    total = label_bits + residual_bits
    allowed = budget * max(n_frames, 0)
    if total > allowed + 1e-9:
        where = garbage[0].offset if garbage else 0
        f.add(
            f"capture offset {where}: the output carries about {total:.0f} bits "
            f"({label_bits:.0f} in labels + {residual_bits} estimated by zlib in "
            f"{len(residual)} bytes outside records), over the declared budget of "
            f"{budget} bits x {n_frames} frames = {allowed} bits"
        )
    detail = (
        f"{len(residual)} bytes outside records"
        + (
            f" ({shannon_bits_per_byte(residual):.2f} bits/byte, {residual_bits} bits by "
            f"zlib, {high} high-entropy windows of {WINDOW})"
            if residual
            else ""
        )
        + f"; labels {label_bits:.1f} bits over {len(labels)} DECISIONs; estimated "
        f"{total:.0f} of {allowed} bits allowed"
    )
    return f.result("entropy", not f, detail)
