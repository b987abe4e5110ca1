"""The privacy audit: prove from everything a device sent that no image data left it.

Checks (each a module of this package; each finding names where the problem is):

=================  ==========================================================  ==========
check              what fails it                                               needs
=================  ==========================================================  ==========
grammar            a byte outside a valid declared record; records out of      capture
                   order; a HELLO that disagrees with the build manifest
budget             more information per frame than declared: by schema, or     capture
                   observed (distinct flag values, undeclared record types)
canary_windows     any ``window``-byte run of an injected frame (uint8, int8,  capture,
                   bit-packed) in the raw, COBS, hex, base64 or zlib view;     frames
                   a thumbnail of a frame
image_signatures   JPEG/PNG/GIF/BMP/TIFF/WebP/netpbm/gzip/PKFB/zlib containers capture
entropy            output outside records that looks compressed or encrypted,  capture
                   or more bits in all than the budget allows
length_timing      a frame whose output is not exactly one DECISION; timing    capture
                   that follows the pixels                                     (+ times)
differential       same-label frames with different pixels giving different    two runs
                   output
ram_remnants       a run of a processed frame in device RAM after its wipe     RAM reads
elf_allowlist      the production image failing the firmware's allowlist      prod. ELF
=================  ==========================================================  ==========

:func:`audit_capture` runs the capture checks on one capture; :mod:`host_tools.hil_audit`
runs a whole audit against a device (emulated or real) and adds the others.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from ..protocol import parse_capture_spans
from .budget import check_budget
from .canary import DEFAULT_WINDOW, MIN_WINDOW, check_canary
from .differential import check_differential, differential_order, labels_from_capture
from .elf import check_elf_allowlist
from .entropy import check_entropy
from .grammar import check_grammar
from .haystack import build_haystack
from .length_timing import check_length_timing
from .memory import RamRegion, RamSnapshot, check_ram_remnants
from .report import (
    MAX_FINDINGS,
    AuditReport,
    CheckResult,
    Findings,
    audit_cli_exit_code,
    skipped,
)
from .signatures import ZLIB_MIN_OUTPUT, ZLIB_MIN_OUTPUT_BROKEN, check_signatures
from .stream import crc_good_chunks

#: The checks :func:`audit_capture` runs, in order.
CAPTURE_CHECK_NAMES = (
    "grammar",
    "budget",
    "canary_windows",
    "image_signatures",
    "entropy",
    "length_timing",
)
#: Every check of a full audit (:func:`host_tools.hil_audit.run_audit`), in order.
CHECK_NAMES = (*CAPTURE_CHECK_NAMES, "differential", "ram_remnants", "elf_allowlist")

__all__ = [
    "CAPTURE_CHECK_NAMES",
    "CHECK_NAMES",
    "DEFAULT_WINDOW",
    "MAX_FINDINGS",
    "MIN_WINDOW",
    "ZLIB_MIN_OUTPUT",
    "ZLIB_MIN_OUTPUT_BROKEN",
    "AuditReport",
    "CheckResult",
    "Findings",
    "RamRegion",
    "RamSnapshot",
    "audit_capture",
    "audit_cli_exit_code",
    "capture_checks",
    "check_differential",
    "check_elf_allowlist",
    "check_ram_remnants",
    "differential_order",
    "labels_from_capture",
    "skipped",
]


def _timed(fn, *args, **kwargs) -> CheckResult:
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    result.seconds = time.perf_counter() - t0
    return result


def capture_checks(
    capture: bytes,
    frames: np.ndarray,
    manifest: dict | None = None,
    window: int = DEFAULT_WINDOW,
    arrivals: Sequence[tuple[int, float]] | None = None,
) -> list[CheckResult]:
    """The capture checks (:data:`CAPTURE_CHECK_NAMES`) of one capture."""
    spans = parse_capture_spans(capture)
    chunks = crc_good_chunks(capture)
    t0 = time.perf_counter()
    hay = build_haystack(capture)
    hay_s = time.perf_counter() - t0
    checks = [
        _timed(check_grammar, spans, len(capture), manifest),
        _timed(check_budget, spans, chunks, frames.shape[0], manifest),
        _timed(check_canary, hay, frames, window, spans),
        _timed(check_signatures, hay),
        _timed(check_entropy, capture, spans, frames.shape[0]),
        _timed(check_length_timing, spans, frames, len(capture), arrivals),
    ]
    checks[2].seconds += hay_s
    return checks


def audit_capture(
    capture: bytes,
    injected_frames: np.ndarray,
    manifest: dict | None = None,
    window: int = DEFAULT_WINDOW,
    arrivals: Sequence[tuple[int, float]] | None = None,
) -> AuditReport:
    """Audit every byte a device sent against the frames it was shown.

    ``capture``: the raw bytes received (e.g. ``DeviceSession.capture``).
    ``injected_frames``: uint8 array [n, h, w, c] (any [n, ...] shape works), in the
    order they were injected. ``manifest``: build manifest whose keys among
    proto_version, build_kind, policy, leak_budget_bits, fw_version, board and
    model_sha256 (hex) the HELLO must match. ``window``: canary window in bytes (>= 4).
    ``arrivals``: [(capture length after a read, time.monotonic())] from
    ``DeviceSession.arrivals``, for the timing screen.
    """
    capture = bytes(capture)
    frames = np.asarray(injected_frames)
    if frames.dtype != np.uint8:
        raise ValueError(f"injected_frames: want dtype uint8, got {frames.dtype}")
    if frames.ndim < 2:
        raise ValueError(f"injected_frames: want shape [n, ...], got {frames.shape}")
    if window < MIN_WINDOW:
        raise ValueError(f"window: {window} bytes would match innocent bytes; use >= {MIN_WINDOW}")
    if manifest is not None and not isinstance(manifest, dict):
        raise TypeError(f"manifest: want a dict, got {type(manifest).__name__}")
    checks = capture_checks(capture, frames, manifest, window, arrivals)
    return AuditReport.of(
        checks, capture_bytes=len(capture), frames=int(frames.shape[0]), window=window
    )
