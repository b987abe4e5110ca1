"""Seeded canary frames for the privacy audit.

A canary is a frame the audit can recognise wherever a piece of it turns up. Kinds:

``noise``        uniform random pixels: every 8-byte window is unique, so any raw or
                 re-encoded copy is found by window search; incompressible.
``gradient``     a linear ramp in a random direction: compressible, so a leak through a
                 compressor or a thumbnail is visible.
``checkerboard`` random cell size, phase and two random levels.
``text``         rows of random glyph-like 5x7 bitmaps on a plain background.
``scene``        a synthetic doorbell scene from :func:`training.synthetic.generate_scenes`
                 when that module is installed (a gradient otherwise).

Every kind but ``noise`` and ``scene`` draws its levels from two bands, 20..104 and
152..230, away from 0, 128 and 255: pixels near 128 are near 0 as int8 model input, and
windows of near-zero bytes are what RAM and records are full of, so the audit cannot
look for them (see :func:`host_tools.audit.canary.innocent_windows`). They also get a
seeded watermark (+0..7 per pixel), so no two canaries are equal and their windows are
distinct. Frame ``i`` depends only on (seed, i, kind, shape): a longer run starts with
the same frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

KINDS = ("noise", "gradient", "checkerboard", "text", "scene")
_KIND_IDS = {k: i for i, k in enumerate(KINDS)}


@dataclass(frozen=True)
class CanarySet:
    """Canary frames [n, h, w, c] uint8 and the kind of each."""

    frames: np.ndarray
    kinds: tuple[str, ...]
    seed: int

    def __len__(self) -> int:
        return len(self.frames)


def _rng(seed: int, index: int, kind: str) -> np.random.Generator:
    return np.random.default_rng([seed, index, _KIND_IDS[kind], 0x50EE])


LOW_BAND = (20, 104)
HIGH_BAND = (152, 230)
WATERMARK = 8


def _watermark(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, WATERMARK, shape, dtype=np.int16)


def _level(rng: np.random.Generator, band: tuple[int, int] | None = None) -> int:
    band = band or (LOW_BAND if rng.random() < 0.5 else HIGH_BAND)
    return int(rng.integers(band[0], band[1] + 1))


def _noise(rng, h, w, c) -> np.ndarray:
    return rng.integers(0, 256, (h, w, c), dtype=np.uint8)


def _gradient(rng, h, w, c) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = np.cos(angle) * xx / max(w - 1, 1) + np.sin(angle) * yy / max(h - 1, 1)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    lo, hi = LOW_BAND if rng.random() < 0.5 else HIGH_BAND
    chans = []
    for _ in range(c):
        a = rng.uniform(lo, lo + (hi - lo) * 0.3)
        b = rng.uniform(hi - (hi - lo) * 0.3, hi)
        chans.append(a + ramp * (b - a))
    return np.stack(chans, axis=-1).astype(np.int16)


def _checkerboard(rng, h, w, c) -> np.ndarray:
    cell = int(rng.integers(2, 13))
    py, px = rng.integers(0, cell, 2)
    yy, xx = np.mgrid[0:h, 0:w]
    board = (((yy + py) // cell + (xx + px) // cell) % 2).astype(bool)
    img = np.where(board, _level(rng, LOW_BAND), _level(rng, HIGH_BAND)).astype(np.int16)
    return np.repeat(img[..., None], c, axis=-1)


def _text(rng, h, w, c) -> np.ndarray:
    bg, fg = _level(rng, HIGH_BAND), _level(rng, LOW_BAND)
    if rng.random() < 0.5:
        bg, fg = fg, bg
    img = np.full((h, w), bg, np.int16)
    glyphs = rng.random((40, 7, 5)) < 0.45  # a random alphabet of 5x7 glyphs
    scale = int(rng.integers(1, 3))
    gh, gw = 7 * scale, 5 * scale
    y = int(rng.integers(1, 4))
    while y + gh <= h:
        x = int(rng.integers(1, 4))
        while x + gw <= w:
            if rng.random() < 0.85:
                g = glyphs[int(rng.integers(0, len(glyphs)))]
                g = np.kron(g, np.ones((scale, scale), bool))
                img[y : y + gh, x : x + gw][g] = fg
            x += gw + scale
        y += gh + 2 * scale
    return np.repeat(img[..., None], c, axis=-1)


def _scene(rng, h, w, c, seed: int, index: int) -> np.ndarray:
    try:
        from training.synthetic import render_scene
    except ImportError:
        return _gradient(rng, h, w, c)
    try:
        if h != w:
            raise ValueError("scenes are square")
        image = render_scene(seed, index, h, c).image
    except ValueError:  # a size the scene generator does not draw
        return _gradient(rng, h, w, c)
    return np.asarray(image, np.int16).reshape(h, w, c)


def canary_frame(
    kind: str, index: int, seed: int, height: int, width: int, channels: int = 1
) -> np.ndarray:
    """One canary frame [h, w, c] uint8."""
    if kind not in _KIND_IDS:
        raise ValueError(f"unknown canary kind {kind!r}; known: {', '.join(KINDS)}")
    rng = _rng(seed, index, kind)
    h, w, c = height, width, channels
    if kind == "noise":
        return _noise(rng, h, w, c)
    if kind == "gradient":
        img = _gradient(rng, h, w, c)
    elif kind == "checkerboard":
        img = _checkerboard(rng, h, w, c)
    elif kind == "text":
        img = _text(rng, h, w, c)
    else:
        return np.clip(_scene(rng, h, w, c, seed, index), 0, 255).astype(np.uint8)
    img = img + _watermark(rng, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def generate_canaries(
    n: int,
    height: int = 96,
    width: int = 96,
    channels: int = 1,
    seed: int = 0,
    kinds: Sequence[str] = KINDS,
) -> CanarySet:
    """``n`` canary frames, cycling through ``kinds``; frame ``i`` depends only on
    (seed, i, its kind, shape)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    kinds = tuple(kinds)
    if not kinds:
        raise ValueError("kinds: give at least one")
    for k in kinds:
        if k not in _KIND_IDS:
            raise ValueError(f"unknown canary kind {k!r}; known: {', '.join(KINDS)}")
    frames = np.empty((n, height, width, channels), np.uint8)
    chosen = tuple(kinds[i % len(kinds)] for i in range(n))
    for i, k in enumerate(chosen):
        frames[i] = canary_frame(k, i, seed, height, width, channels)
    return CanarySet(frames, chosen, seed)
