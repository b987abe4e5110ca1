"""Views of a capture shared by the checks: the 0x00-delimited chunks read leniently
(a body with a good CRC is reported even when its type or fields are not allowed), and
the per-frame segments of the stream."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from cobs import cobs

from ..protocol import TYPE_DECISION, Decision, Garbage, Hello, Span


@dataclass(frozen=True)
class Chunk:
    """One 0x00-delimited chunk of the capture whose COBS decoding has a good CRC-32.

    ``offset``/``length`` locate it in the capture (delimiter included); ``type_code`` and
    ``payload`` are read from the body whatever they are."""

    offset: int
    length: int
    type_code: int
    payload: bytes


def crc_good_chunks(capture: bytes) -> list[Chunk]:
    """Every chunk that COBS-decodes to ``type | payload | crc32`` with a matching CRC,
    whether or not its type and payload are allowed by the protocol."""
    out: list[Chunk] = []
    offset = 0
    for piece in capture.split(b"\x00")[:-1]:  # the last piece has no delimiter
        here = offset
        offset += len(piece) + 1
        if len(piece) < 5:
            continue
        try:
            body = cobs.decode(piece)
        except cobs.DecodeError:
            continue
        if len(body) < 5:
            continue
        (crc,) = struct.unpack("<I", body[-4:])
        if crc == zlib.crc32(body[:-4]):
            out.append(Chunk(here, len(piece) + 1, body[0], body[1:-4]))
    return out


def decision_like(chunks: list[Chunk]) -> list[Chunk]:
    """Chunks shaped like a DECISION (type 0x02, 5-byte payload), reserved bits or not."""
    return [c for c in chunks if c.type_code == TYPE_DECISION and len(c.payload) == 5]


def frame_segments(spans: list[Span]) -> list[tuple[int, int]]:
    """(start, end) capture offsets of the output attributed to each frame: from the end
    of the HELLO (or of the previous frame's DECISION) to the end of this frame's
    DECISION. Garbage in between is charged to the frame whose DECISION follows it."""
    out: list[tuple[int, int]] = []
    start = None
    for span in spans:
        item = span.item
        if isinstance(item, Hello) and start is None:
            start = span.end
        elif isinstance(item, Decision):
            if start is None:
                start = 0
            out.append((start, span.end))
            start = span.end
    return out


def outside_records(spans: list[Span]) -> list[Span]:
    """The garbage spans (bytes that are in no valid record)."""
    return [s for s in spans if isinstance(s.item, Garbage)]
