"""Frame bank files: the HIL test input path (docs/PROTOCOL.md, "Frame bank").

header (32 bytes, little-endian):
  magic "PKFB" | version u32 = 1 | count u32 | width u16 | height u16 |
  channels u8 (bytes per pixel: 1, 3, 2, 2) |
  format u8 (0 = GRAY8, 1 = RGB888, 2 = RGB565, 3 = YUYV) | reserved u8[14] = 0
frames: count * height * width * channels bytes, row-major, no row padding

Frames are handled as uint8 arrays [n, h, w, bytes per pixel]: GRAY8 and RGB888 frames
are their pixels (HWC); an RGB565 frame holds each pixel's little-endian u16 as 2 bytes,
a YUYV frame ``Y0 U`` / ``Y1 V`` for the pixels of a pair. The 2-byte formats must be
named (``pixfmt=``) when writing, since the shape alone cannot tell them apart.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"PKFB"
VERSION = 1
HEADER_SIZE = 32
FORMAT_GRAY8 = 0
FORMAT_RGB888 = 1
FORMAT_RGB565 = 2
FORMAT_YUYV = 3

#: format code -> bytes per pixel (the header's ``channels``)
FORMAT_BYTES = {FORMAT_GRAY8: 1, FORMAT_RGB888: 3, FORMAT_RGB565: 2, FORMAT_YUYV: 2}
FORMAT_NAMES = {
    FORMAT_GRAY8: "GRAY8",
    FORMAT_RGB888: "RGB888",
    FORMAT_RGB565: "RGB565",
    FORMAT_YUYV: "YUYV",
}
#: channels -> format code, where the channel count alone says which
_FORMAT_FOR_CHANNELS = {1: FORMAT_GRAY8, 3: FORMAT_RGB888}


def format_code(pixfmt: int | str) -> int:
    """A format code from its code or name (``"rgb565"``, ``"YUYV"``...)."""
    if isinstance(pixfmt, str):
        for code, name in FORMAT_NAMES.items():
            if name.lower() == pixfmt.lower():
                return code
        raise ValueError(
            f"unknown pixel format {pixfmt!r}; known: {', '.join(FORMAT_NAMES.values())}"
        )
    if pixfmt not in FORMAT_BYTES:
        raise ValueError(f"unknown pixel format code {pixfmt}; known: {sorted(FORMAT_BYTES)}")
    return int(pixfmt)


_HEADER = struct.Struct("<4sIIHHBB14s")
assert _HEADER.size == HEADER_SIZE


@dataclass(frozen=True)
class FrameBankHeader:
    count: int
    width: int
    height: int
    channels: int
    format: int

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * self.channels

    @property
    def data_bytes(self) -> int:
        return self.count * self.frame_bytes

    def pack(self) -> bytes:
        return _HEADER.pack(
            MAGIC,
            VERSION,
            self.count,
            self.width,
            self.height,
            self.channels,
            self.format,
            bytes(14),
        )


def _check_frames(frames: np.ndarray, pixfmt: int | str | None = None) -> FrameBankHeader:
    if not isinstance(frames, np.ndarray):
        raise TypeError(f"frames: want a numpy array, got {type(frames).__name__}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames: want dtype uint8, got {frames.dtype}")
    if frames.ndim != 4:
        raise ValueError(f"frames: want shape [n, h, w, c], got {frames.shape}")
    count, height, width, channels = frames.shape
    if pixfmt is None:
        if channels not in _FORMAT_FOR_CHANNELS:
            raise ValueError(
                f"frames: channels must be 1 (gray) or 3 (RGB), got {channels}; for the "
                f"2-byte formats give pixfmt='RGB565' or 'YUYV'"
            )
        fmt = _FORMAT_FOR_CHANNELS[channels]
    else:
        fmt = format_code(pixfmt)
        if FORMAT_BYTES[fmt] != channels:
            raise ValueError(
                f"frames: {FORMAT_NAMES[fmt]} has {FORMAT_BYTES[fmt]} bytes per pixel, the "
                f"frames have {channels}"
            )
        if fmt == FORMAT_YUYV and width % 2:
            raise ValueError(f"frames: YUYV needs an even width, got {width}")
    if not (0 < width <= 0xFFFF and 0 < height <= 0xFFFF):
        raise ValueError(f"frames: width {width} / height {height} must be in 1..65535")
    if count > 0xFFFFFFFF:
        raise ValueError(f"frames: {count} frames do not fit in the u32 count")
    return FrameBankHeader(count, width, height, channels, fmt)


def encode_frame_bank(frames: np.ndarray, pixfmt: int | str | None = None) -> bytes:
    """The bytes of a frame bank holding ``frames`` (uint8, shape [n, h, w, c]); the
    format follows from c (1 GRAY8, 3 RGB888) unless ``pixfmt`` names it."""
    header = _check_frames(frames, pixfmt)
    return header.pack() + np.ascontiguousarray(frames).tobytes()


def write_frame_bank(
    path: str | os.PathLike[str], frames: np.ndarray, pixfmt: int | str | None = None
) -> Path:
    """Write ``frames`` (uint8, shape [n, h, w, c]) as a frame bank file; ``pixfmt`` as
    in :func:`encode_frame_bank`.

    The file is written next to its final name and renamed into place, so a reader never
    sees half a bank. Returns the path written.
    """
    path = Path(path)
    data = encode_frame_bank(frames, pixfmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def parse_frame_bank_header(data: bytes, source: str = "<bytes>") -> FrameBankHeader:
    """Parse and check the 32-byte header; ``source`` names the file in errors."""
    if len(data) < HEADER_SIZE:
        raise ValueError(
            f"{source}: truncated header: {len(data)} bytes, a frame bank header is {HEADER_SIZE}"
        )
    magic, version, count, width, height, channels, fmt, reserved = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ValueError(f"{source}: bad magic {magic!r} (want {MAGIC!r})")
    if version != VERSION:
        raise ValueError(f"{source}: unsupported version {version} (want {VERSION})")
    if fmt not in FORMAT_BYTES:
        raise ValueError(f"{source}: bad format {fmt} (want one of {sorted(FORMAT_BYTES)})")
    if channels != FORMAT_BYTES[fmt]:
        raise ValueError(
            f"{source}: bad channels {channels}: format {fmt} ({FORMAT_NAMES[fmt]}) has "
            f"{FORMAT_BYTES[fmt]} bytes per pixel"
        )
    if width == 0 or height == 0:
        raise ValueError(f"{source}: bad size: width {width}, height {height} (must be > 0)")
    if any(reserved):
        raise ValueError(f"{source}: reserved header bytes are not zero: {reserved.hex()}")
    return FrameBankHeader(count, width, height, channels, fmt)


def decode_frame_bank(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Frames ([n, h, w, c] uint8) from the bytes of a frame bank."""
    header = parse_frame_bank_header(data, source)
    have = len(data) - HEADER_SIZE
    want = header.data_bytes
    if have < want:
        raise ValueError(
            f"{source}: truncated frame data: count {header.count} x {header.height}x"
            f"{header.width}x{header.channels} needs {want} bytes, file has {have}"
        )
    if have > want:
        raise ValueError(
            f"{source}: {have - want} trailing bytes after {header.count} frames "
            f"({want} bytes of frame data expected)"
        )
    frames = np.frombuffer(data, dtype=np.uint8, offset=HEADER_SIZE)
    return frames.reshape(header.count, header.height, header.width, header.channels).copy()


def read_frame_bank(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a frame bank file into a uint8 array of shape [n, h, w, c].

    Raises ValueError naming the file and the field on bad magic, version, channels or
    format, non-zero reserved bytes, or a file size that does not match the header.
    """
    path = Path(path)
    return decode_frame_bank(path.read_bytes(), str(path))
