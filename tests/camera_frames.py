"""Synthetic camera frames in the formats real modules give, and PKFB banks of them.

Frames are smooth random shapes (so a model's decision varies from frame to frame) plus
per-pixel noise (so every 8-byte window of a frame is unique and a RAM read-back that
finds one is telling). Deterministic for a seed.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from training import camera_preprocess as cp


def rgb_scene(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """uint8 [h, w, 3]: a few coarse random blocks plus +-24 noise."""
    gh, gw = int(rng.integers(2, 7)), int(rng.integers(2, 7))
    grid = rng.integers(0, 256, (gh, gw, 3)).astype(np.int32)
    ys = np.arange(h) * gh // h
    xs = np.arange(w) * gw // w
    img = grid[ys][:, xs] + rng.integers(-24, 25, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def encode(rgb: np.ndarray, fmt: int) -> bytes:
    """Pack an RGB888 picture as a frame of ``fmt`` (any reasonable encoder will do: the
    device and the host both decode these same bytes)."""
    r, g, b = (rgb[:, :, k].astype(np.int32) for k in range(3))
    if fmt == cp.FORMAT_RGB888:
        return rgb.tobytes()
    if fmt == cp.FORMAT_GRAY8:
        return ((77 * r + 150 * g + 29 * b + 128) >> 8).astype(np.uint8).tobytes()
    if fmt == cp.FORMAT_RGB565:
        v = ((r >> 3) << 11) | ((g >> 2) << 5) | (b >> 3)
        return v.astype("<u2").tobytes()
    if fmt == cp.FORMAT_YUYV:
        y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
        u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128
        v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128
        out = np.empty((rgb.shape[0], rgb.shape[1] * 2), dtype=np.uint8)
        out[:, 0::2] = y
        out[:, 1::4] = u[:, 0::2]
        out[:, 3::4] = v[:, 0::2]
        return out.tobytes()
    raise ValueError(fmt)


def frames(seed: int, n: int, w: int, h: int, fmt: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [encode(rgb_scene(rng, w, h), fmt) for _ in range(n)]


def write_bank(path: Path, frames: list[bytes], w: int, h: int, fmt: int) -> Path:
    """A PKFB bank (docs/PROTOCOL.md, "Frame bank"); channels = bytes per pixel."""
    bpp = cp.BYTES_PER_PIXEL[fmt]
    assert all(len(f) == w * h * bpp for f in frames)
    header = b"PKFB" + struct.pack("<IIHHBB", 1, len(frames), w, h, bpp, fmt)
    path.write_bytes(header + bytes(32 - len(header)) + b"".join(frames))
    return path
