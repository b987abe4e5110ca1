"""Check 2b, ``image_signatures``: no image or compressed-data container occurs in any
view of the capture: JPEG, PNG, GIF, BMP, TIFF, WebP, netpbm, gzip, a PKFB frame bank,
or a zlib stream that inflates to more than 64 bytes (more than 4096 if it breaks off:
random bytes with a valid zlib header inflate to up to ~300 bytes before they break;
measured: 11 of 1915 header candidates in 4 MB of random bytes exceeded 64 bytes, none
exceeded 512)."""

from __future__ import annotations

import bisect
import re
import struct
from collections.abc import Iterable

from .haystack import RAW, ZLIB, Haystack
from .report import CheckResult, Findings

ZLIB_MIN_OUTPUT = 64
ZLIB_MIN_OUTPUT_BROKEN = 4096

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


def check_signatures(hay: Haystack) -> CheckResult:
    f = Findings()
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

    n_zlib = 0
    for s in hay.streams:
        if s.kind != ZLIB:
            continue
        n_zlib += 1
        if s.complete and s.out_len > ZLIB_MIN_OUTPUT:
            hits.append(
                (s.pos, 2, f"complete zlib stream (checksum ok) inflating to {s.out_len} bytes")
            )
        elif not s.complete and s.out_len > ZLIB_MIN_OUTPUT_BROKEN:
            hits.append(
                (s.pos, 2, f"zlib stream inflating to more than {ZLIB_MIN_OUTPUT_BROKEN} bytes")
            )

    # A decoded view repeats what the raw view already shows at the same capture bytes.
    raw_hits: dict[str, list[int]] = {}
    for i, _, name in sorted(hits):
        if hay.kinds[hay.segment(i)] == RAW:
            raw_hits.setdefault(name, []).append(i)
    for i, length, name in sorted(hits):
        seg = hay.segment(i)
        if seg > 0:
            lo, hi = int(hay.origins[seg]), int(hay.origin_ends[seg])
            offsets = raw_hits.get(name, [])
            k = bisect.bisect_left(offsets, lo)
            if k < len(offsets) and offsets[k] < hi:
                continue
        f.add(f"{hay.locate(i, length)}: {name}")
    detail = (
        f"scanned {len(hay.data)} bytes (raw + {hay.counts()}) for "
        f"JPEG/PNG/GIF/BMP/TIFF/WebP/netpbm/gzip/PKFB headers and "
        f"{n_zlib} zlib header candidates"
    )
    return f.result("image_signatures", not f, detail)
