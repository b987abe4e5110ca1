"""The bytes the canary and signature checks search: the raw capture plus everything it
decodes to.

Views, each a *segment* of one concatenated buffer:

* the raw capture;
* the COBS decoding of every 0x00-delimited chunk that is not a valid record;
* hex runs (16+ hex digits, or 8+ separated pairs such as ``de:ad:be:ef``) decoded at
  both nibble phases, and base64 runs (12+ characters, standard or URL-safe alphabet)
  decoded at all four phases, found in the raw capture and in the COBS-decoded chunks;
* zlib and gzip streams found in any of the above, inflated.

Each segment remembers the capture bytes it came from, so a finding can say where in
the capture to look.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from dataclasses import dataclass, field

import numpy as np
from cobs import cobs

from ..protocol import ProtocolError, decode_body

RAW = "raw"
COBS = "COBS-decoded chunk"
HEX = "hex-decoded run"
BASE64 = "base64-decoded run"
ZLIB = "zlib stream"
GZIP = "gzip stream"

#: Inflated streams shorter than this are not added as views (a random zlib header
#: inflates to a few junk bytes).
MIN_INFLATED = 16
#: Most bytes one stream may inflate to, and all streams together.
MAX_INFLATE_ONE = 1 << 20
MAX_INFLATE_TOTAL = 32 << 20

_HEX_RUN = re.compile(rb"[0-9A-Fa-f]{16,}")
_HEX_SEP_RUN = re.compile(rb"(?:[0-9A-Fa-f]{2}[ :,\-]){7,}[0-9A-Fa-f]{2}")
_B64_RUN = re.compile(rb"[A-Za-z0-9+/]{12,}={0,2}")
_B64URL_RUN = re.compile(rb"[A-Za-z0-9\-_]{12,}={0,2}")


@dataclass(frozen=True)
class Stream:
    """A zlib/gzip stream found at ``pos`` in the haystack: how much it inflated to
    (counted up to a cap) and whether it ended with a good checksum."""

    pos: int
    kind: str
    out_len: int
    complete: bool


@dataclass
class Haystack:
    """All views concatenated in ``data``; segment ``i`` is ``data[starts[i]:ends[i]]``,
    of kind ``kinds[i]``, decoded from capture bytes ``origins[i]..origin_ends[i]``."""

    data: bytes
    starts: np.ndarray
    ends: np.ndarray
    origins: np.ndarray
    origin_ends: np.ndarray
    kinds: list[str]
    streams: list[Stream] = field(default_factory=list)

    @property
    def decoded(self) -> int:
        """Number of decoded segments (all but the raw capture)."""
        return len(self.kinds) - 1

    def counts(self) -> str:
        n: dict[str, int] = {}
        for k in self.kinds[1:]:
            n[k] = n.get(k, 0) + 1
        return ", ".join(f"{v} {k}s" for k, v in n.items()) or "no decoded views"

    def segment(self, pos: int) -> int:
        return int(np.searchsorted(self.starts, pos, side="right")) - 1

    def segment_end(self, pos: int) -> int:
        return int(self.ends[self.segment(pos)])

    def locate(self, pos: int, length: int) -> str:
        seg = self.segment(pos)
        rel = pos - int(self.starts[seg])
        if seg == 0:
            return f"capture offset {pos}" + (f"..{pos + length - 1}" if length > 1 else "")
        what = self.kinds[seg]
        return (
            f"capture offset {int(self.origins[seg])} (inside the {what} there, "
            f"decoded bytes {rel}..{rel + length - 1})"
        )


class _Builder:
    def __init__(self, capture: bytes) -> None:
        self.parts = [capture]
        self.starts = [0]
        self.origins = [0]
        self.origin_ends = [len(capture)]
        self.kinds = [RAW]
        self.total = len(capture)
        self.streams: list[Stream] = []
        self.inflated = 0

    def add(self, data: bytes, kind: str, origin: int, origin_end: int) -> None:
        if not data:
            return
        self.parts.append(data)
        self.starts.append(self.total)
        self.origins.append(origin)
        self.origin_ends.append(origin_end)
        self.kinds.append(kind)
        self.total += len(data)

    def segments(self) -> list[tuple[bytes, int, int, int]]:
        """(data, haystack start, origin, origin_end) of every segment so far."""
        return list(zip(self.parts, self.starts, self.origins, self.origin_ends))

    def build(self) -> Haystack:
        starts = np.asarray(self.starts, np.int64)
        return Haystack(
            b"".join(self.parts),
            starts,
            np.append(starts[1:], self.total).astype(np.int64),
            np.asarray(self.origins, np.int64),
            np.asarray(self.origin_ends, np.int64),
            self.kinds,
            self.streams,
        )


def _hex_views(data: bytes) -> list[tuple[int, int, bytes]]:
    out = []
    for m in _HEX_RUN.finditer(data):
        run = m.group()
        for phase in (0, 1):
            n = (len(run) - phase) // 2 * 2
            out.append((m.start(), m.end(), bytes.fromhex(run[phase : phase + n].decode())))
    for m in _HEX_SEP_RUN.finditer(data):
        digits = re.sub(rb"[ :,\-]", b"", m.group())
        out.append((m.start(), m.end(), bytes.fromhex(digits.decode())))
    return out


def _b64_views(data: bytes) -> list[tuple[int, int, bytes]]:
    out = []
    seen: set[tuple[int, int]] = set()
    for pattern, altchars in ((_B64_RUN, None), (_B64URL_RUN, b"-_")):
        for m in pattern.finditer(data):
            if (m.start(), m.end()) in seen:
                continue
            seen.add((m.start(), m.end()))
            run = m.group().rstrip(b"=")
            if altchars is None and _HEX_RUN.fullmatch(run):
                continue  # a hex run; base64 of it is noise
            for phase in range(4):
                body = run[phase:]
                body = body[: len(body) // 4 * 4]
                if len(body) < 12:
                    continue
                try:
                    out.append((m.start(), m.end(), base64.b64decode(body, altchars)))
                except (binascii.Error, ValueError):
                    continue
    return out


def inflate_at(data: bytes, i: int, end: int, cap: int, wbits: int = 15) -> tuple[bytes, bool]:
    """(up to cap + 1 inflated bytes, whether the stream ended with a good checksum) for
    a zlib (wbits 15) or gzip (wbits 31) stream at ``data[i:end]``."""
    d = zlib.decompressobj(wbits)
    out: list[bytes] = []
    n = 0
    pos = i
    try:
        while n <= cap and not d.eof:
            if d.unconsumed_tail:
                piece = d.unconsumed_tail
            elif pos < end:
                piece = data[pos : min(end, pos + 4096)]
                pos += len(piece)
            else:
                break
            got = d.decompress(piece, cap + 1 - n)
            out.append(got)
            n += len(got)
    except zlib.error:
        return b"".join(out), False
    return b"".join(out), d.eof


def zlib_candidates(buf: np.ndarray) -> np.ndarray:
    """Positions where a zlib header (CM 8, window <= 32 KiB, FCHECK ok, no preset
    dictionary) starts."""
    if buf.size < 2:
        return np.empty(0, np.int64)
    cmf = buf[:-1].astype(np.uint16)
    flg = buf[1:].astype(np.uint16)
    ok = ((cmf & 0x0F) == 8) & ((cmf >> 4) <= 7) & (((cmf << 8) | flg) % 31 == 0)
    ok &= (flg & 0x20) == 0
    return np.nonzero(ok)[0]


def _gzip_candidates(data: bytes) -> list[int]:
    out = []
    i = data.find(b"\x1f\x8b\x08")
    while i >= 0:
        out.append(i)
        i = data.find(b"\x1f\x8b\x08", i + 1)
    return out


def build_haystack(capture: bytes) -> Haystack:
    """All views of ``capture`` (see the module docstring)."""
    capture = bytes(capture)
    b = _Builder(capture)
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
        b.add(body, COBS, here, here + len(chunk))

    # Text encodings, in the raw bytes and in the COBS-decoded chunks.
    for data, _, origin, origin_end in b.segments():
        is_raw = origin == 0 and origin_end == len(capture) and data is capture
        for views, kind in ((_hex_views(data), HEX), (_b64_views(data), BASE64)):
            for s, e, decoded in views:
                o, oe = (s, e) if is_raw else (origin, origin_end)
                b.add(decoded, kind, o, oe)

    # Compressed streams anywhere so far.
    for data, start, origin, origin_end in b.segments():
        is_raw = start == 0
        cands = [(int(i), 15, ZLIB) for i in zlib_candidates(np.frombuffer(data, np.uint8))]
        cands += [(i, 31, GZIP) for i in _gzip_candidates(data)]
        for i, wbits, kind in sorted(cands):
            if b.inflated >= MAX_INFLATE_TOTAL:
                break
            out, complete = inflate_at(data, i, len(data), MAX_INFLATE_ONE, wbits)
            b.streams.append(Stream(start + i, kind, len(out), complete))
            if len(out) >= MIN_INFLATED:
                b.inflated += len(out)
                o = origin + i if is_raw else origin
                b.add(out, kind, o, origin_end)
    return b.build()
