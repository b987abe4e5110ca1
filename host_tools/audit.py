"""Privacy audit of a captured device output.

Given every byte a device sent (``DeviceSession.capture``) and the frames it was shown,
:func:`audit_capture` checks that the output holds nothing but the declared records and
no trace of the frames:

``grammar``
    Every byte belongs to a valid fixed-size record; the stream is one HELLO, then
    DECISIONs numbered from 0, then (HIL builds) STATS and BYE, and nothing after BYE.
    The HELLO agrees with the build manifest, if one is given.
``budget``
    The information per frame that the records can carry (one person bit per DECISION
    under the per-frame policy) is within the declared budget, and there is exactly one
    DECISION per injected frame.
``canary_windows``
    No ``window``-byte run of any injected frame, as uint8 pixels or as the int8 model
    input (pixel XOR 0x80), occurs anywhere in the capture: in the raw bytes, or inside
    any 0x00-delimited chunk that is not a valid record once COBS-decoded.
``image_signatures``
    No image or compressed-data container (JPEG, PNG, GIF, BMP, TIFF, WebP, netpbm,
    gzip, a PKFB frame bank, or a zlib stream inflating to more than 64 bytes, or to more
    than 4096 if it breaks off) occurs in the same bytes.

Each finding names the byte offset in the capture where it is.
"""

from __future__ import annotations

import bisect
import re
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from cobs import cobs

from .protocol import (
    BUILD_PRODUCTION,
    POLICY_EVENT_ONLY,
    POLICY_PER_FRAME,
    RECORD_NAMES,
    Bye,
    Decision,
    Garbage,
    Hello,
    ProtocolError,
    Span,
    Stats,
    decode_body,
    parse_capture_spans,
)

MAX_FINDINGS = 20
DEFAULT_WINDOW = 8
MIN_WINDOW = 4
#: A complete zlib stream (final block and a good adler32) that inflates to more than
#: this is reported.
ZLIB_MIN_OUTPUT = 64
#: A zlib stream that breaks off or is cut short is reported only past this: random
#: bytes with a valid zlib header inflate to up to ~300 bytes before they break
#: (measured: 11 of 1915 header candidates in 4 MB of random bytes exceeded 64 bytes,
#: none exceeded 512).
ZLIB_MIN_OUTPUT_BROKEN = 4096

CHECK_NAMES = ("grammar", "budget", "canary_windows", "image_signatures")


# --------------------------------------------------------------------------- results


@dataclass
class CheckResult:
    """Outcome of one check. ``findings`` holds at most MAX_FINDINGS lines, each naming a
    capture byte offset; ``findings_total`` counts all of them."""

    name: str
    passed: bool
    detail: str
    findings: list[str] = field(default_factory=list)
    findings_total: int = 0

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "passed": self.passed,
            "detail": self.detail,
            "findings": list(self.findings),
            "findings_total": max(self.findings_total, len(self.findings)),
        }


@dataclass
class AuditReport:
    passed: bool
    checks: list[CheckResult]
    capture_bytes: int = 0
    frames: int = 0
    window: int = DEFAULT_WINDOW

    def check(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_json(self) -> dict:
        return {
            "passed": self.passed,
            "capture_bytes": self.capture_bytes,
            "frames": self.frames,
            "window": self.window,
            "checks": [c.to_json() for c in self.checks],
        }

    def summary(self, findings: bool = False) -> str:
        """One line per check, PASS or FAIL; with ``findings=True`` the findings of
        failed checks follow their line, indented."""
        verdict = "PASS" if self.passed else "FAIL"
        failed = sum(not c.passed for c in self.checks)
        lines = [
            (
                f"privacy audit {verdict}: {len(self.checks) - failed}/{len(self.checks)} "
                f"checks passed ({self.capture_bytes} capture bytes, {self.frames} frames)"
            )
        ]
        for c in self.checks:
            lines.append(f"{'PASS' if c.passed else 'FAIL'} {c.name}: {c.detail}")
            if findings and not c.passed:
                lines.extend(f"    {f}" for f in c.findings)
                more = c.findings_total - len(c.findings)
                if more > 0:
                    lines.append(f"    ... and {more} more")
        return "\n".join(lines)


def audit_cli_exit_code(report: AuditReport) -> int:
    """0 when every check passed, 1 otherwise."""
    return 0 if report.passed else 1


class _Findings:
    def __init__(self, limit: int = MAX_FINDINGS) -> None:
        self.limit = limit
        self.items: list[str] = []
        self.total = 0

    def add(self, message: str) -> None:
        self.total += 1
        if len(self.items) < self.limit:
            self.items.append(message)

    def __bool__(self) -> bool:
        return self.total > 0

    def result(self, name: str, passed: bool, detail: str) -> CheckResult:
        if self.total > len(self.items):
            detail += f" [{self.total} findings, first {len(self.items)} listed]"
        return CheckResult(name, passed, detail, list(self.items), self.total)


# --------------------------------------------------------------------------- grammar

_BUILD_NAMES = {"production": 0, "prod": 0, "hil": 1}
_POLICY_NAMES = {"per_frame": 0, "per-frame": 0, "event_only": 1, "event-only": 1}


def _as_code(value: object, names: dict[str, int]) -> object:
    if isinstance(value, str) and value.lower() in names:
        return names[value.lower()]
    return value


def _manifest_mismatches(hello: Hello, manifest: dict) -> tuple[list[str], list[str]]:
    """(mismatch messages, manifest keys not compared)."""
    bad: list[str] = []
    ignored: list[str] = []
    for key, want in manifest.items():
        if key == "model_sha256":
            want_hex = want.hex() if isinstance(want, (bytes, bytearray)) else str(want)
            if want_hex.lower() != hello.model_sha256.hex():
                bad.append(
                    f"model_sha256: HELLO says {hello.model_sha256.hex()}, "
                    f"manifest says {want_hex.lower()}"
                )
        elif key in ("fw_version", "board"):
            got = getattr(hello, key)
            if got != str(want):
                bad.append(f"{key}: HELLO says {got!r}, manifest says {want!r}")
        elif key in ("proto_version", "build_kind", "policy", "leak_budget_bits"):
            if key == "build_kind":
                want = _as_code(want, _BUILD_NAMES)
            elif key == "policy":
                want = _as_code(want, _POLICY_NAMES)
            got = getattr(hello, key)
            if got != want:
                bad.append(f"{key}: HELLO says {got}, manifest says {want!r}")
        else:
            ignored.append(key)
    return bad, ignored


def _coalesce_garbage(spans: list[Span]) -> list[tuple[int, int, str, int]]:
    """Adjacent garbage spans merged: (offset, length, first reason, span count)."""
    out: list[list] = []
    for span in spans:
        if not isinstance(span.item, Garbage):
            continue
        if out and out[-1][0] + out[-1][1] == span.offset:
            out[-1][1] += span.length
            out[-1][3] += 1
        else:
            out.append([span.offset, span.length, span.item.reason, 1])
    return [tuple(g) for g in out]


def _check_grammar(spans: list[Span], capture_len: int, manifest: dict | None) -> CheckResult:
    f = _Findings()
    garbage_bytes = 0
    for offset, length, reason, count in _coalesce_garbage(spans):
        garbage_bytes += length
        extra = f" (and {count - 1} more spans)" if count > 1 else ""
        f.add(f"offset {offset}: {length} bytes not part of any valid frame: {reason}{extra}")

    record_spans = [s for s in spans if not isinstance(s.item, Garbage)]
    records = [(s.offset, s.item) for s in record_spans]
    hellos = [(o, r) for o, r in records if isinstance(r, Hello)]
    hello = hellos[0][1] if hellos else None
    counts = {name: 0 for name in RECORD_NAMES.values()}
    for _, r in records:
        counts[RECORD_NAMES[r.TYPE]] += 1

    if not records:
        f.add("offset 0: no valid record in the capture")
    elif not isinstance(records[0][1], Hello):
        first_off, first = records[0]
        f.add(
            f"offset {first_off}: first record is {RECORD_NAMES[first.TYPE]}; the stream must "
            f"start with HELLO"
        )
    elif records[0][0] != 0:
        f.add(f"offset {records[0][0]}: HELLO is not at the start of the stream")
    for off, _ in hellos[1:]:
        f.add(f"offset {off}: extra HELLO (exactly one is allowed)")

    per_frame = hello is None or hello.policy == POLICY_PER_FRAME
    next_seq = 0
    last_seq = -1
    n_decisions = 0
    stats_seen = bye_end = None
    for span in record_spans:
        off, r = span.offset, span.item
        name = RECORD_NAMES[r.TYPE]
        if bye_end is not None:
            break
        if isinstance(r, Decision):
            n_decisions += 1
            if stats_seen is not None:
                f.add(f"offset {off}: DECISION seq {r.seq} after STATS")
            if per_frame and r.seq != next_seq:
                f.add(f"offset {off}: DECISION seq {r.seq}, want {next_seq} (consecutive from 0)")
            elif not per_frame and r.seq <= last_seq:
                f.add(f"offset {off}: DECISION seq {r.seq} not above previous {last_seq}")
            next_seq = r.seq + 1
            last_seq = r.seq
        elif isinstance(r, (Stats, Bye)):
            if hello is not None and hello.build_kind == BUILD_PRODUCTION:
                f.add(f"offset {off}: {name} in a production build (HIL builds only)")
            if isinstance(r, Stats):
                if stats_seen is not None:
                    f.add(f"offset {off}: second STATS (first at offset {stats_seen})")
                stats_seen = off
            if r.frames != n_decisions:
                f.add(f"offset {off}: {name} frames={r.frames} but {n_decisions} DECISIONs sent")
            if isinstance(r, Stats) and r.insn_min > r.insn_max:
                f.add(f"offset {off}: STATS insn_min {r.insn_min} > insn_max {r.insn_max}")
            if isinstance(r, Bye):
                bye_end = span.end
    if bye_end is not None and bye_end < capture_len:
        f.add(f"offset {bye_end}: {capture_len - bye_end} bytes after BYE (nothing may follow)")

    detail_parts = [
        ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no records",
        f"{garbage_bytes} bytes outside valid frames",
    ]
    if manifest is not None:
        if hello is None:
            f.add("offset 0: no HELLO to compare with the manifest")
        else:
            bad, ignored = _manifest_mismatches(hello, manifest)
            hello_off = hellos[0][0]
            for msg in bad:
                f.add(f"offset {hello_off}: HELLO disagrees with the manifest: {msg}")
            compared = len(manifest) - len(ignored)
            note = f"HELLO checked against {compared} manifest fields"
            if ignored:
                note += f" (not compared: {', '.join(sorted(ignored))})"
            detail_parts.append(note)
    return f.result("grammar", not f, "; ".join(detail_parts))


# --------------------------------------------------------------------------- budget


def _check_budget(spans: list[Span], n_frames: int, manifest: dict | None) -> CheckResult:
    f = _Findings()
    records = [(s.offset, s.item) for s in spans if not isinstance(s.item, Garbage)]
    garbage_bytes = sum(s.length for s in spans if isinstance(s.item, Garbage))
    hello = next((r for _, r in records if isinstance(r, Hello)), None)
    decisions = [(o, r) for o, r in records if isinstance(r, Decision)]
    manifest_budget = None if manifest is None else manifest.get("leak_budget_bits")

    if hello is None:
        f.add("offset 0: no HELLO, so no declared budget to hold the output to")
        return f.result("budget", False, "no declared budget")

    if hello.policy != POLICY_PER_FRAME:
        name = "event-only" if hello.policy == POLICY_EVENT_ONLY else str(hello.policy)
        f.add(
            f"offset 0: HELLO policy {hello.policy} ({name}): only the per-frame policy "
            f"can be audited so far"
        )
        return f.result("budget", False, f"policy {name} not supported by the audit yet")

    bits_per_frame = 1  # the person flag; DECISION's other bits are reserved zeros
    if bits_per_frame > hello.leak_budget_bits:
        f.add(
            f"offset 0: each DECISION carries {bits_per_frame} bit but HELLO declares a "
            f"budget of {hello.leak_budget_bits} bits per frame"
        )
    if manifest_budget is not None and hello.leak_budget_bits > manifest_budget:
        f.add(
            f"offset 0: HELLO declares {hello.leak_budget_bits} bits per frame, the "
            f"manifest allows {manifest_budget}"
        )
    n_dec = len(decisions)
    if n_dec > n_frames:
        off = decisions[n_frames][0]
        f.add(
            f"offset {off}: {n_dec} DECISIONs for {n_frames} injected frames; "
            f"{n_dec - n_frames} extra from here on"
        )
    elif n_dec < n_frames:
        end = spans[-1].end if spans else 0
        f.add(
            f"offset {end}: {n_dec} DECISIONs for {n_frames} injected frames; "
            f"{n_frames - n_dec} missing"
        )
    if garbage_bytes:
        first = next(s.offset for s in spans if isinstance(s.item, Garbage))
        f.add(
            f"offset {first}: {garbage_bytes} bytes outside valid records carry an "
            f"unbounded amount of information (see grammar)"
        )

    detail = (
        f"per-frame policy: {n_dec} DECISIONs for {n_frames} frames, {bits_per_frame} bit "
        f"each = {n_dec * bits_per_frame} bits observable; declared "
        f"{hello.leak_budget_bits} bits/frame"
        + ("" if manifest_budget is None else f", manifest allows {manifest_budget}")
    )
    if any(isinstance(r, Stats) for _, r in records):
        detail += "; STATS (HIL only, once per run) not counted per frame"
    return f.result("budget", not f, detail)


# --------------------------------------------------------------------------- haystack


@dataclass
class _Haystack:
    """The raw capture followed by the COBS-decoded content of every 0x00-delimited chunk
    that decodes but is not a valid record. ``starts``/``ends`` bound each segment in
    ``data``; ``origins`` is the capture offset each segment comes from."""

    data: bytes
    starts: np.ndarray
    ends: np.ndarray
    origins: np.ndarray
    origin_ends: np.ndarray  # capture offset where each segment's source chunk ends
    decoded: int  # number of decoded segments

    def segment(self, pos: int) -> int:
        return int(np.searchsorted(self.starts, pos, side="right")) - 1

    def locate(self, pos: int, length: int) -> str:
        seg = self.segment(pos)
        rel = pos - int(self.starts[seg])
        if seg == 0:
            return f"capture offset {pos}" + (f"..{pos + length - 1}" if length > 1 else "")
        return (
            f"capture offset {int(self.origins[seg])} (inside the COBS-decoded chunk there, "
            f"decoded bytes {rel}..{rel + length - 1})"
        )

    def segment_end(self, pos: int) -> int:
        return int(self.ends[self.segment(pos)])


def _build_haystack(capture: bytes) -> _Haystack:
    parts = [capture]
    starts = [0]
    origins = [0]
    origin_ends = [len(capture)]
    total = len(capture)
    offset = 0
    for chunk in capture.split(b"\x00"):  # the last piece is the unterminated tail
        here = offset
        offset += len(chunk) + 1
        if len(chunk) < 2:
            continue
        try:
            body = cobs.decode(chunk)
        except cobs.DecodeError:
            continue
        try:
            decode_body(body)
            continue  # a valid record: its content is accounted for by grammar/budget
        except ProtocolError:
            pass
        parts.append(body)
        starts.append(total)
        origins.append(here)
        origin_ends.append(here + len(chunk))
        total += len(body)
    starts_a = np.asarray(starts, dtype=np.int64)
    ends_a = np.append(starts_a[1:], total).astype(np.int64)
    return _Haystack(
        b"".join(parts),
        starts_a,
        ends_a,
        np.asarray(origins, np.int64),
        np.asarray(origin_ends, np.int64),
        len(parts) - 1,
    )


# --------------------------------------------------------------------------- canary

_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)


def _window_keys(buf: np.ndarray, w: int) -> np.ndarray:
    """One uint64 per w-byte window of ``buf``. For w <= 8 the key is the window itself
    (little-endian), read with one unaligned stride-1 view; for w > 8 it is a
    multiplicative hash, and matches must be re-checked byte for byte."""
    n = len(buf) - w + 1
    if n <= 0:
        return np.empty(0, np.uint64)
    if w <= 8:
        padded = np.zeros(len(buf) + 8, np.uint8)
        padded[: len(buf)] = buf
        view = np.ndarray((n,), dtype="<u8", buffer=padded, strides=(1,))
        keys = view.astype(np.uint64)  # copies
        if w < 8:
            keys &= np.uint64((1 << (8 * w)) - 1)
        return keys
    b = buf.astype(np.uint64)
    keys = np.zeros(n, np.uint64)
    for j in range(w):
        keys = (keys ^ b[j : j + n]) * _HASH_MUL
    return keys


def _prefilter(small: np.ndarray, big: np.ndarray) -> np.ndarray:
    """Indices of ``big`` whose key may occur in ``small``: a one-hash Bloom filter
    sized for about 6% false positives, which are weeded out exactly afterwards."""
    bits = int(np.clip(np.ceil(np.log2(max(small.size, 1) * 16)), 16, 27))
    shift = np.uint64(64 - bits)
    table = np.zeros(1 << bits, bool)
    table[(small * _HASH_MUL) >> shift] = True
    return np.nonzero(table[(big * _HASH_MUL) >> shift])[0]


def _match(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) with a[i] == b[j]: every matching element of ``a`` paired with
    the first equal element of ``b``.

    Each side is first cut down to the keys that may occur in the other (Bloom filter,
    linear time); only the survivors, normally a few percent, are sorted and paired.
    Looking millions of unsorted keys up in a sorted array of millions is cache-bound
    and an order of magnitude slower (4.5 s against 0.3 s for 3M x 3.6M keys).
    """
    empty = np.empty(0, np.int64)
    if a.size == 0 or b.size == 0:
        return empty, empty
    small, big = (a, b) if a.size <= b.size else (b, a)
    big_idx = _prefilter(small, big)
    small_idx = _prefilter(big[big_idx], small)
    if big_idx.size == 0 or small_idx.size == 0:
        return empty, empty
    ia, ib = (small_idx, big_idx) if a.size <= b.size else (big_idx, small_idx)
    a_order = ia[np.argsort(a[ia], kind="stable")]
    b_order = ib[np.argsort(b[ib], kind="stable")]
    a_sorted, b_sorted = a[a_order], b[b_order]
    pos = np.minimum(np.searchsorted(b_sorted, a_sorted), b_sorted.size - 1)
    hit = b_sorted[pos] == a_sorted
    return a_order[hit], b_order[pos[hit]]


def _row_col(shape: tuple[int, ...], byte_i: int) -> str:
    if len(shape) == 3:  # [h, w, c]
        row, col = divmod(byte_i // shape[2], shape[1])
    elif len(shape) == 2:  # [h, w]
        row, col = divmod(byte_i, shape[1])
    else:
        return ""
    return f" (row {row}, col {col})"


def _check_canary(hay: _Haystack, frames: np.ndarray, w: int) -> CheckResult:
    f = _Findings()
    n = frames.shape[0]
    if n == 0:
        return f.result("canary_windows", True, "no frames injected: nothing to look for")
    shape = tuple(frames.shape[1:])
    frame_size = int(np.prod(shape))
    if frame_size < w:
        return f.result(
            "canary_windows",
            True,
            f"frames of {frame_size} bytes are shorter than the {w}-byte window",
        )
    flat = np.ascontiguousarray(frames).reshape(-1)
    total = flat.size

    # Frame windows that stay inside one frame and are not one repeated byte.
    n_win = total - w + 1
    pos = np.arange(n_win, dtype=np.int64)
    inside = (pos % frame_size) <= frame_size - w
    u8_keys = _window_keys(flat, w)
    if w <= 8:
        mask = np.uint64((1 << (8 * w)) - 1)
        repeated = flat[:n_win].astype(np.uint64) * np.uint64(0x0101010101010101) & mask
        constant = u8_keys == repeated
        i8_keys = u8_keys ^ (np.uint64(0x8080808080808080) & mask)
    else:
        constant = np.ones(n_win, bool)
        for j in range(1, w):
            constant &= flat[j : j + n_win] == flat[:n_win]
        i8_keys = _window_keys(flat ^ np.uint8(0x80), w)
    skipped = int(np.count_nonzero(constant & inside))
    keep = inside & ~constant
    fpos = pos[keep]
    variants = ("uint8 pixels", "int8 model input")
    fkeys = np.concatenate([u8_keys[keep], i8_keys[keep]])
    fref = np.concatenate([fpos, fpos + total])

    # Capture windows that stay inside one haystack segment. In a decoded chunk only
    # windows holding a 0x00 (a byte COBS had rewritten) are new: any other window of it
    # lies verbatim in the raw bytes and would be reported twice.
    hbuf = np.frombuffer(hay.data, dtype=np.uint8)
    h_win = max(0, hbuf.size - w + 1)
    hpos = np.arange(h_win, dtype=np.int64)
    seg_end = np.repeat(hay.ends, hay.ends - hay.starts)[:h_win]
    usable = hpos + w <= seg_end
    raw_len = int(hay.ends[0])
    if h_win > raw_len:
        zeros = np.concatenate([[0], np.cumsum(hbuf == 0)])
        has_zero = zeros[hpos[raw_len:] + w] > zeros[hpos[raw_len:]]
        usable[raw_len:] &= has_zero
    hpos = hpos[usable]
    hkeys = _window_keys(hbuf, w)[hpos]

    i_h, i_f = _match(hkeys, fkeys)
    mh, mf = hpos[i_h], fref[i_f]
    if w > 8 and mh.size:  # hashed keys: confirm byte for byte
        base, flip = mf % total, (mf // total).astype(np.uint8) * np.uint8(0x80)
        ok = np.ones(mh.size, bool)
        for j in range(w):
            ok &= hbuf[mh + j] == (flat[base + j] ^ flip)
        mh, mf = mh[ok], mf[ok]

    runs = 0
    if mh.size:
        # Runs: consecutive capture windows matching consecutive frame windows.
        order = np.lexsort((mf, mh))
        mh, mf = mh[order], mf[order]
        brk = np.ones(mh.size, bool)
        brk[1:] = (np.diff(mh) != 1) | (np.diff(mf) != 1)
        starts = np.nonzero(brk)[0]
        lengths = np.diff(np.append(starts, mh.size))
        runs = starts.size
        # One finding per (frame, variant) found, at its first run in the capture, with
        # how much of that frame turned up in all.
        covered = np.zeros(len(variants) * total, bool)
        for j in range(w):
            covered[mf + j] = True
        covered_per = covered.reshape(len(variants), n, frame_size).sum(axis=2)
        group = mf[starts] // frame_size  # variant * n + frame
        runs_per = np.bincount(group, minlength=len(variants) * n)
        _, first = np.unique(group, return_index=True)  # runs are in capture order
        first.sort()
        for k in first[:MAX_FINDINGS]:
            s0, length = starts[k], int(lengths[k])
            h0, r0 = int(mh[s0]), int(mf[s0])
            variant = r0 // total
            frame_i, byte_i = divmod(r0 % total, frame_size)
            nbytes = length + w - 1
            message = (
                f"{hay.locate(h0, nbytes)}: {nbytes} bytes of frame {frame_i} from pixel "
                f"offset {byte_i}{_row_col(shape, byte_i)} as {variants[variant]}"
            )
            g = variant * n + frame_i
            if runs_per[g] > 1:
                message += (
                    f"; {covered_per[variant, frame_i]} of {frame_size} bytes of this frame "
                    f"found in {runs_per[g]} runs in all"
                )
            f.add(message)
        f.total += max(0, first.size - MAX_FINDINGS)
    detail = (
        f"{fkeys.size} windows of {w} bytes from {n} frames (uint8 and int8) looked up in "
        f"{hpos.size} capture windows (raw + {hay.decoded} COBS-decoded chunks); "
        f"{skipped} constant windows skipped (a flat run of pixels would match innocent "
        f"bytes); {mh.size} matching windows in {runs} runs"
    )
    if fkeys.size == 0:
        detail += "; every frame window is constant, so nothing could be checked"
    return f.result("canary_windows", mh.size == 0, detail)


# --------------------------------------------------------------------------- signatures

_JPEG_MARKERS = set(range(0xE0, 0xF0)) | {0xDB, 0xC0, 0xC1, 0xC2, 0xC4, 0xFE}
_BMP_DIB_SIZES = {12, 40, 52, 56, 64, 108, 124}
_NETPBM = re.compile(rb"P[1-6][ \t\r\n]+[0-9]{1,5}[ \t\r\n]+[0-9]{1,5}[ \t\r\n]")


def _find_all(data: bytes, needle: bytes) -> Iterable[int]:
    i = data.find(needle)
    while i >= 0:
        yield i
        i = data.find(needle, i + 1)


def _bmp_plausible(data: bytes, i: int) -> bool:
    if i + 26 > len(data):
        return False
    size, r1, r2, off, dib = struct.unpack_from("<IHHII", data, i + 2)
    if r1 or r2 or dib not in _BMP_DIB_SIZES or not (14 + dib <= off < 1 << 24):
        return False
    if size and size < off:
        return False
    if dib == 12:
        width, height, planes, bpp = struct.unpack_from("<HHHH", data, i + 18)
    elif i + 30 <= len(data):
        width, height, planes, bpp = struct.unpack_from("<iiHH", data, i + 18)
    else:
        return False
    return width != 0 and height != 0 and planes == 1 and bpp in (1, 4, 8, 16, 24, 32)


def _zlib_candidates(buf: np.ndarray) -> np.ndarray:
    if buf.size < 2:
        return np.empty(0, np.int64)
    cmf = buf[:-1].astype(np.uint16)
    flg = buf[1:].astype(np.uint16)
    ok = ((cmf & 0x0F) == 8) & ((cmf >> 4) <= 7) & (((cmf << 8) | flg) % 31 == 0)
    ok &= (flg & 0x20) == 0  # no preset dictionary
    return np.nonzero(ok)[0]


def _inflate(data: bytes, i: int, end: int, cap: int) -> tuple[int, bool]:
    """(bytes inflated, counted up to cap + 1; whether the stream ended with a good
    adler32) for a zlib stream starting at ``data[i]`` and cut at ``end``."""
    d = zlib.decompressobj()
    out = 0
    pos = i
    try:
        while out <= cap and not d.eof:
            if d.unconsumed_tail:
                piece = d.unconsumed_tail
            elif pos < end:
                piece = data[pos : min(end, pos + 256)]
                pos += len(piece)
            else:
                break
            out += len(d.decompress(piece, cap + 1 - out))
    except zlib.error:
        return out, False
    return out, d.eof


def _check_signatures(hay: _Haystack) -> CheckResult:
    f = _Findings()
    data = hay.data
    hits: list[tuple[int, int, str]] = []

    def fixed(sig: bytes, name: str, extra=None) -> None:
        for i in _find_all(data, sig):
            if i + len(sig) <= hay.segment_end(i) and (extra is None or extra(i)):
                hits.append((i, len(sig), name))

    fixed(
        b"\xff\xd8\xff",
        "JPEG SOI marker",
        lambda i: i + 3 < len(data) and data[i + 3] in _JPEG_MARKERS,
    )
    fixed(b"\x89PNG\r\n\x1a\n", "PNG signature")
    fixed(b"GIF87a", "GIF87a header")
    fixed(b"GIF89a", "GIF89a header")
    fixed(b"BM", "BMP header", lambda i: _bmp_plausible(data, i))
    fixed(b"II*\x00", "TIFF header (little-endian)")
    fixed(b"MM\x00*", "TIFF header (big-endian)")
    fixed(b"RIFF", "WebP container", lambda i: data[i + 8 : i + 12] == b"WEBP")
    fixed(b"\x1f\x8b\x08", "gzip header")
    fixed(
        b"PKFB", "Peekless frame bank header", lambda i: data[i + 4 : i + 8] == b"\x01\x00\x00\x00"
    )
    for m in _NETPBM.finditer(data):
        if m.end() <= hay.segment_end(m.start()):
            hits.append((m.start(), m.end() - m.start(), f"netpbm header {m.group()[:2]!r}"))

    buf = np.frombuffer(data, np.uint8)
    candidates = _zlib_candidates(buf)
    for i in candidates.tolist():
        n, complete = _inflate(data, i, hay.segment_end(i), ZLIB_MIN_OUTPUT_BROKEN)
        if complete and n > ZLIB_MIN_OUTPUT:
            hits.append((i, 2, f"complete zlib stream (checksum ok) inflating to {n} bytes"))
        elif n > ZLIB_MIN_OUTPUT_BROKEN:
            hits.append(
                (i, 2, f"zlib stream inflating to more than {ZLIB_MIN_OUTPUT_BROKEN} bytes")
            )

    raw_hits: dict[str, list[int]] = {}
    for i, _, name in sorted(hits):
        if i < int(hay.ends[0]):
            raw_hits.setdefault(name, []).append(i)
    for i, length, name in sorted(hits):
        seg = hay.segment(i)
        if seg > 0:  # a decoded chunk: skip what the raw view already reports there
            lo, hi = int(hay.origins[seg]), int(hay.origin_ends[seg])
            offsets = raw_hits.get(name, [])
            k = bisect.bisect_left(offsets, lo)
            if k < len(offsets) and offsets[k] < hi:
                continue
        f.add(f"{hay.locate(i, length)}: {name}")
    detail = (
        f"scanned {len(hay.data)} bytes (raw + {hay.decoded} COBS-decoded chunks) for "
        f"JPEG/PNG/GIF/BMP/TIFF/WebP/netpbm/gzip/PKFB headers and "
        f"{candidates.size} zlib header candidates"
    )
    return f.result("image_signatures", not f, detail)


# --------------------------------------------------------------------------- entry


def audit_capture(
    capture: bytes,
    injected_frames: np.ndarray,
    manifest: dict | None = None,
    window: int = DEFAULT_WINDOW,
) -> AuditReport:
    """Audit every byte a device sent against the frames it was shown.

    ``capture``: the raw bytes received (e.g. ``DeviceSession.capture``).
    ``injected_frames``: uint8 array [n, h, w, c] (any [n, ...] shape works), in the
    order they were injected. ``manifest``: build manifest whose keys among
    proto_version, build_kind, policy, leak_budget_bits, fw_version, board and
    model_sha256 (hex) the HELLO must match. ``window``: canary window in bytes (>= 4).
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

    spans = parse_capture_spans(capture)
    hay = _build_haystack(capture)
    checks = [
        _check_grammar(spans, len(capture), manifest),
        _check_budget(spans, frames.shape[0], manifest),
        _check_canary(hay, frames, window),
        _check_signatures(hay),
    ]
    return AuditReport(
        passed=all(c.passed for c in checks),
        checks=checks,
        capture_bytes=len(capture),
        frames=int(frames.shape[0]),
        window=window,
    )
