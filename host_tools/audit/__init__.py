"""The privacy audit's checks.

The verdict (:mod:`.noninterference`): runs A and B of the same image, shown frames that
differ in pixels but have the same reference decisions, must look the same to an
observer, and every decision must equal the reference:

=======================  ====================================================  =========
check                    what fails it                                         needs
=======================  ====================================================  =========
protocol                 a byte outside a valid declared record, records out  capture
                         of order, a HELLO that disagrees with the manifest
                         (:mod:`.grammar`)
noninterference_output   any byte on any UART that differs between the runs    2 runs
noninterference_timing   any byte written, or checkpoint reached, at another   2 runs
                         instruction count
noninterference_memory   any register or RAM byte (every RAM block of the      2 runs
                         board) that differs after a frame's wipe
reference_decisions      a DECISION that is not the reference decision         model
shipped_image            an audited image that is not the production image     ELF
=======================  ====================================================  =========

The content checks of audit v1 now say *what* leaked once the verdict has failed
(diagnostics), and audit a saved capture offline (:func:`audit_capture`, ``peekless audit
--capture``): ``grammar``, ``budget``, ``canary_windows`` (frame windows in raw, COBS,
hex, base64, zlib and bit-packed views; thumbnails), ``image_signatures``, ``entropy``,
``length_timing``, and :mod:`.diagnostics` for memory (copies under any constant XOR).
``elf_allowlist`` is the firmware's production ELF check.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from ..protocol import parse_capture_spans
from .budget import check_budget
from .canary import DEFAULT_WINDOW, MIN_WINDOW, check_canary
from .elf import check_elf_allowlist
from .entropy import check_entropy
from .grammar import check_grammar
from .haystack import build_haystack
from .length_timing import check_length_timing
from .memory import RamRegion, RamSnapshot
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
#: The verdict checks of a device audit (:func:`host_tools.hil_audit.run_audit`), in order.
CHECK_NAMES = (
    "protocol",
    "noninterference_output",
    "noninterference_timing",
    "noninterference_memory",
    "reference_decisions",
    "shipped_image",
)

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
    "check_elf_allowlist",
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
