"""Deterministic synthetic "doorbell camera" scenes for smoke-testing the pipeline.

Every scene is rendered from its own sub-seed, ``SeedSequence(entropy=seed,
spawn_key=(index,))`` (the same stream ``SeedSequence(seed).spawn(n)[index]`` gives), so
scene ``index`` of a seed is the same whatever ``n`` is, and the bytes are identical
between runs. Rendering is numpy only.

A scene is a porch looking out to a street, a door across a hallway or porch, or a
wall/fence, with ground-standing objects placed in perspective (people, pets, parcels,
plants, bins, lamp posts, passing cars), foreground occluders (door posts, railings,
plants) and a camera model (day, dusk, night under a porch lamp, infrared; gain, gamma,
vignetting, wide-angle barrel distortion, blur, read and shot noise).

Label rule (see ``LABEL_RULE``): a scene is "person" (1) iff the bounding box of the
person's visible pixels, after occlusion, cropping by the frame edge and lens
distortion, covers at least ``MIN_PERSON_BOX_FRACTION`` of the image (and the person has
at least ``MIN_PERSON_PIXEL_FRACTION`` of the image in visible pixels). Negative scenes
contain no person pixels at all. Distractors appear with the same distribution in both
classes.

This data exists so that training, quantisation, compilation and the firmware can be
tested end to end without real images. It is no substitute for real data.
"""

from __future__ import annotations

import argparse
import colorsys
import hashlib
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

GENERATOR_VERSION = "1.0.0"
DATASET_NAME = "synthetic-doorbell"
LICENCE = "synthetic (generated, no real people)"
SPLITS = ("train", "val", "test")

MIN_PERSON_BOX_FRACTION = 0.03
MIN_PERSON_PIXEL_FRACTION = 0.012
# Fraction of a person's head and torso that must stay visible (not hidden by the frame
# edge or by things in front): positives show at least head and shoulders.
MIN_PART_VISIBLE = {"head": 0.9, "torso": 0.85}
MIN_CLOTHING_CONTRAST = 0.4  # luminance difference between clothes and what is behind
MIN_SKIN_CONTRAST = 0.2  # the same for the face, where the skin palette allows
PERSON_HEIGHT = (0.6, 1.1)  # a positive's height as a fraction of the frame (log-uniform)
LABEL_RULE = (
    "person (1) iff the bounding box of the visible pixels of a person (after occlusion, "
    "cropping by the frame edge and lens distortion) covers at least "
    f"{MIN_PERSON_BOX_FRACTION:.0%} of the image and the person has at least "
    f"{MIN_PERSON_PIXEL_FRACTION:.1%} of the image in visible pixels; no person (0) "
    "scenes contain no person pixels at all. Stricter than the Visual Wake Words rule "
    "(box > 0.5%) so that every positive is clearly visible at 96x96. Positives are "
    f"drawn about {PERSON_HEIGHT[0]:.0%} to {PERSON_HEIGHT[1]:.0%} of the frame height tall "
    "(feet may be below the frame), with at least "
    f"{MIN_PART_VISIBLE['head']:.0%} of the head and {MIN_PART_VISIBLE['torso']:.0%} of "
    f"the torso in view and clothing whose luminance differs by {MIN_CLOTHING_CONTRAST} "
    "from what is behind it. Pets, parcels, plants, bins, lamp posts, cars, door posts "
    "and railings appear in both classes."
)

_PROGRESS_THRESHOLD = 500
_MAX_ATTEMPTS = 12
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class Scene:
    """One rendered scene and the facts its label was computed from."""

    image: np.ndarray  # uint8 [size, size, channels]
    label: int  # 1 = person, 0 = no person
    person_box: tuple[int, int, int, int] | None  # visible (y0, x0, y1, x1), end exclusive
    person_box_fraction: float  # bounding-box area / image area (0.0 without a person)
    background: str  # "porch" | "door" | "wall"
    lighting: str  # "day" | "dusk" | "night" | "ir"
    objects: tuple[str, ...]  # what was drawn, far to near: "person", "pet", "car", ...


# --------------------------------------------------------------------------- drawing


class _Mask(NamedTuple):
    sy: slice
    sx: slice
    yy: np.ndarray  # [h, 1] pixel-centre rows
    xx: np.ndarray  # [1, w] pixel-centre columns
    alpha: np.ndarray  # [h, w] coverage in [0, 1]


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32)


def _jitter(rng: np.random.Generator, colour, amount: float = 0.08) -> np.ndarray:
    c = np.asarray(colour, dtype=np.float32) * rng.uniform(1 - amount, 1 + amount, 3)
    return np.clip(c, 0.0, 1.2).astype(np.float32)


def _upsample(grid: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear resize of a small 2-D grid to [h, w]."""
    gy = np.linspace(0.0, grid.shape[0] - 1.0, h, dtype=np.float32)
    gx = np.linspace(0.0, grid.shape[1] - 1.0, w, dtype=np.float32)
    y0 = np.minimum(gy.astype(np.int64), grid.shape[0] - 2)
    x0 = np.minimum(gx.astype(np.int64), grid.shape[1] - 2)
    fy = (gy - y0)[:, None]
    fx = (gx - x0)[None, :]
    rows = grid[y0] * (1 - fy) + grid[y0 + 1] * fy
    return (rows[:, x0] * (1 - fx) + rows[:, x0 + 1] * fx).astype(np.float32)


def _value_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Smooth noise in roughly [-1, 1] with about ``cells`` features across."""
    cells = max(int(cells), 1)
    return _upsample(rng.standard_normal((cells + 1, cells + 1)).astype(np.float32), h, w)


class _Canvas:
    """A float RGB canvas plus a map of how much of each pixel shows a person."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size = size
        self.rng = rng
        self.rgb = np.zeros((size, size, 3), dtype=np.float32)
        self.person = np.zeros((size, size), dtype=np.float32)
        self.parts = {name: np.zeros((size, size), dtype=np.float32) for name in MIN_PART_VISIBLE}
        self._centres = np.arange(size, dtype=np.float32) + 0.5
        angle = rng.uniform(0, 2 * math.pi)
        self.light = (math.sin(angle) * 0.6 - 0.4, math.cos(angle))  # mostly from above

    # -- shapes: each returns a soft mask over its (clipped) window, or None if off-image

    def _window(self, y0: float, y1: float, x0: float, x1: float):
        s = self.size
        iy0, iy1 = max(math.floor(y0) - 1, 0), min(math.ceil(y1) + 1, s)
        ix0, ix1 = max(math.floor(x0) - 1, 0), min(math.ceil(x1) + 1, s)
        if iy0 >= iy1 or ix0 >= ix1:
            return None
        return (
            slice(iy0, iy1),
            slice(ix0, ix1),
            self._centres[iy0:iy1, None],
            self._centres[None, ix0:ix1],
        )

    @staticmethod
    def _mask(win, dist: np.ndarray) -> _Mask:
        return _Mask(*win, np.clip(0.5 - dist, 0.0, 1.0))

    def ellipse(self, cy, cx, ry, rx, angle: float = 0.0) -> _Mask | None:
        r = max(ry, rx)
        win = self._window(cy - r, cy + r, cx - r, cx + r)
        if win is None:
            return None
        dy, dx = win[2] - cy, win[3] - cx
        ca, sa = math.cos(angle), math.sin(angle)
        u, v = dx * ca + dy * sa, -dx * sa + dy * ca
        dist = (np.sqrt((u / rx) ** 2 + (v / ry) ** 2) - 1.0) * min(rx, ry)
        return self._mask(win, dist)

    def box(self, y0, x0, y1, x1, radius: float = 0.0) -> _Mask | None:
        win = self._window(y0, y1, x0, x1)
        if win is None:
            return None
        hy, hx = (y1 - y0) / 2, (x1 - x0) / 2
        radius = min(radius, hy, hx)
        qy = np.abs(win[2] - (y0 + hy)) - (hy - radius)
        qx = np.abs(win[3] - (x0 + hx)) - (hx - radius)
        outside = np.sqrt(np.maximum(qy, 0) ** 2 + np.maximum(qx, 0) ** 2)
        dist = outside + np.minimum(np.maximum(qy, qx), 0) - radius
        return self._mask(win, dist)

    def capsule(self, y0, x0, y1, x1, r0, r1=None) -> _Mask | None:
        """A thick segment from (y0, x0) to (y1, x1), radius r0 tapering to r1."""
        r1 = r0 if r1 is None else r1
        r = max(r0, r1)
        win = self._window(min(y0, y1) - r, max(y0, y1) + r, min(x0, x1) - r, max(x0, x1) + r)
        if win is None:
            return None
        ey, ex = y1 - y0, x1 - x0
        ll = max(ey * ey + ex * ex, 1e-6)
        py, px = win[2] - y0, win[3] - x0
        t = np.clip((py * ey + px * ex) / ll, 0.0, 1.0)
        dist = np.sqrt((py - t * ey) ** 2 + (px - t * ex) ** 2) - (r0 + (r1 - r0) * t)
        return self._mask(win, dist)

    def polygon(self, pts) -> _Mask | None:
        """A convex polygon given as [(y, x), ...] in either winding."""
        pts = np.asarray(pts, dtype=np.float32)
        win = self._window(pts[:, 0].min(), pts[:, 0].max(), pts[:, 1].min(), pts[:, 1].max())
        if win is None:
            return None
        centre = pts.mean(axis=0)
        dist = None
        for a, b in zip(pts, np.roll(pts, -1, axis=0)):
            ny, nx = b[1] - a[1], -(b[0] - a[0])
            norm = math.hypot(ny, nx)
            if norm < 1e-6:
                continue
            ny, nx = ny / norm, nx / norm
            if (centre[0] - a[0]) * ny + (centre[1] - a[1]) * nx > 0:
                ny, nx = -ny, -nx
            d = (win[2] - a[0]) * ny + (win[3] - a[1]) * nx
            dist = d if dist is None else np.maximum(dist, d)
        return self._mask(win, dist)

    # -- compositing

    def paint(
        self,
        m: _Mask | None,
        colour,
        *,
        shade: float = 0.0,
        tex: float = 0.0,
        opacity: float = 1.0,
        person: bool = False,
        part: str | None = None,
    ) -> None:
        """Composite ``colour`` through mask ``m``.

        shade: brightness gradient along the scene light over the shape's extent.
        tex: amplitude of smooth multiplicative texture.
        person: the pixels become person pixels; otherwise they hide any person below.
        part: the person pixels also belong to this body part ("head", "torso").
        """
        if m is None:
            return
        alpha = m.alpha if opacity == 1.0 else m.alpha * opacity
        h, w = alpha.shape
        colour = np.asarray(colour, dtype=np.float32)
        if shade or tex:
            gain = np.ones((h, w), dtype=np.float32)
            if shade:
                span = max(h, w)
                cy, cx = float(m.yy.mean()), float(m.xx.mean())
                ly, lx = self.light
                gain += shade * ((m.yy - cy) * ly + (m.xx - cx) * lx) / span
            if tex:
                gain *= 1.0 + tex * _value_noise(self.rng, h, w, max(h, w) // 4 + 1)
            fill = np.maximum(gain, 0.0)[..., None] * colour
        else:
            fill = colour
        a3 = alpha[..., None]
        region = self.rgb[m.sy, m.sx]
        region *= 1.0 - a3
        region += a3 * fill
        cover = self.person[m.sy, m.sx]
        if person:
            np.maximum(cover, alpha, out=cover)
            if part is not None:
                part_cover = self.parts[part][m.sy, m.sx]
                np.maximum(part_cover, alpha, out=part_cover)
        else:
            cover *= 1.0 - alpha
            for part_cover in self.parts.values():
                part_cover[m.sy, m.sx] *= 1.0 - alpha

    def luminance(self, y0: float, y1: float, x0: float, x1: float) -> float:
        """Mean luminance of what is painted so far inside a box (0.5 if off-image)."""
        win = self._window(y0, y1, x0, x1)
        if win is None:
            return 0.5
        return float((self.rgb[win[0], win[1]] @ _LUMA).mean())


# --------------------------------------------------------------------------- backgrounds


@dataclass
class _Layout:
    kind: str
    horizon: float  # eye-level row (vanishing line), px
    ground_top: float  # first row where things can stand, px
    cam_height: float  # metres; px per metre at foot row y = (y - horizon) / cam_height
    street: tuple[float, float] | None  # (top, bottom) rows of a street, porch scenes only


_WALL_PAINTS = [
    (0.92, 0.90, 0.84),
    (0.80, 0.78, 0.72),
    (0.62, 0.66, 0.70),
    (0.85, 0.75, 0.55),
    (0.55, 0.60, 0.50),
    (0.70, 0.45, 0.35),
    (0.35, 0.35, 0.38),
    (0.95, 0.95, 0.95),
]
_BRICKS = [(0.62, 0.28, 0.20), (0.55, 0.35, 0.25), (0.72, 0.60, 0.45), (0.50, 0.50, 0.50)]
_WOOD = [(0.55, 0.38, 0.22), (0.42, 0.28, 0.16), (0.70, 0.55, 0.38), (0.30, 0.22, 0.15)]
_GREENS = [(0.20, 0.45, 0.18), (0.30, 0.55, 0.20), (0.15, 0.35, 0.20), (0.40, 0.50, 0.25)]


def _perspective_floor(c: _Canvas, lay: _Layout, top: float, rng: np.random.Generator) -> None:
    """Boards, tiles, grass or concrete from row ``top`` to the bottom, in perspective."""
    s = c.size
    i0 = max(math.floor(top), 0)
    if i0 >= s:
        return
    yy = c._centres[i0:, None]
    xx = c._centres[None, :]
    depth = np.maximum(yy - lay.horizon, 0.5)
    u = (xx - rng.uniform(0.2, 0.8) * s) / depth  # constant along lines to the vanishing point
    v = s / depth  # grows with distance
    style = rng.choice(["boards", "tiles", "grass", "concrete"])
    shades = rng.uniform(0.8, 1.2, 64).astype(np.float32)
    if style == "boards":
        base = _jitter(rng, _WOOD[rng.integers(len(_WOOD))], 0.15)
        idx = np.floor(u / rng.uniform(0.15, 0.35)).astype(np.int64) % 64
        gain = shades[idx] * (1.0 - 0.4 * (np.abs(np.modf(u / 0.25)[0]) < 0.06))
    elif style == "tiles":
        base = _hsv(rng.uniform(0, 0.15), rng.uniform(0, 0.4), rng.uniform(0.4, 0.9))
        k = rng.uniform(0.2, 0.5)
        iu, iv = np.floor(u / k).astype(np.int64), np.floor(v * k * 2).astype(np.int64)
        gain = np.where((iu + iv) % 2 == 0, 1.0, rng.uniform(0.6, 0.9)) * shades[(iu * 7 + iv) % 64]
    elif style == "grass":
        base = _jitter(rng, _GREENS[rng.integers(len(_GREENS))], 0.15)
        gain = 1.0 + 0.25 * rng.standard_normal((s - i0, s)).astype(np.float32)
    else:
        base = _hsv(0.08, rng.uniform(0, 0.15), rng.uniform(0.45, 0.8))
        gain = 1.0 + 0.1 * rng.standard_normal((s - i0, s)).astype(np.float32)
    gain = gain * (1.0 + 0.15 * _value_noise(rng, s - i0, s, 4))
    # a little darker far away, lighter near the camera
    gain = gain * (0.85 + 0.3 * (yy - i0) / max(s - i0, 1))
    c.rgb[i0:] = np.maximum(gain, 0.0)[..., None].astype(np.float32) * base
    c.person[i0:] = 0.0
    for part_cover in c.parts.values():
        part_cover[i0:] = 0.0


def _sky_and_far(c: _Canvas, lay: _Layout, rng: np.random.Generator) -> None:
    s = c.size
    sky_bottom = lay.horizon - rng.uniform(0.05, 0.2) * s
    top = _hsv(rng.uniform(0.55, 0.62), rng.uniform(0.0, 0.5), rng.uniform(0.8, 1.3))
    bottom = top * rng.uniform(1.0, 1.2)
    t = np.clip(c._centres[:, None] / max(sky_bottom, 1.0), 0, 1)[..., None]
    c.rgb[:] = top * (1 - t) + bottom * t
    # far band: houses or a hedge between sky and street
    band_top = sky_bottom
    if rng.random() < 0.5:
        x = -rng.uniform(0, 0.2) * s
        while x < s:
            w = rng.uniform(0.25, 0.6) * s
            ht = rng.uniform(0.1, 0.3) * s
            wall = _jitter(rng, _WALL_PAINTS[rng.integers(len(_WALL_PAINTS))], 0.1) * 0.8
            c.paint(c.box(lay.horizon - ht, x, lay.horizon, x + w), wall, shade=0.3)
            roof = _hsv(rng.uniform(0, 0.1), rng.uniform(0.2, 0.6), rng.uniform(0.2, 0.5))
            peak = lay.horizon - ht - rng.uniform(0.05, 0.15) * s
            c.paint(
                c.polygon(
                    [(lay.horizon - ht, x - 2), (peak, x + w / 2), (lay.horizon - ht, x + w + 2)]
                ),
                roof,
            )
            for _ in range(rng.integers(1, 4)):
                wx = x + rng.uniform(0.1, 0.8) * w
                wy = lay.horizon - ht + rng.uniform(0.15, 0.5) * ht
                glass = rng.uniform(0.1, 1.3) * np.ones(3, np.float32)
                c.paint(c.box(wy, wx, wy + 0.25 * ht, wx + 0.12 * w), glass)
            x += w + rng.uniform(0.0, 0.15) * s
    else:
        green = _jitter(rng, _GREENS[rng.integers(len(_GREENS))], 0.2) * 0.7
        c.paint(
            c.box(band_top + 0.3 * (lay.horizon - band_top), -2, lay.horizon, s + 2), green, tex=0.3
        )
        for _ in range(rng.integers(2, 7)):
            r = rng.uniform(0.06, 0.18) * s
            c.paint(
                c.ellipse(
                    band_top + rng.uniform(0, 0.6) * (lay.horizon - band_top),
                    rng.uniform(0, s),
                    r,
                    r * 1.2,
                ),
                green * rng.uniform(0.7, 1.2),
                tex=0.4,
                shade=0.5,
            )


def _background(c: _Canvas, rng: np.random.Generator) -> _Layout:
    s = c.size
    kind = str(rng.choice(["porch", "door", "wall"], p=[0.45, 0.3, 0.25]))
    cam = rng.uniform(1.2, 1.7)
    if kind == "porch":
        horizon = rng.uniform(0.28, 0.5) * s
        lay = _Layout(kind, horizon, horizon, cam, None)
        _sky_and_far(c, lay, rng)
        street_bottom = horizon + rng.uniform(0.03, 0.09) * s
        asphalt = np.full(3, rng.uniform(0.2, 0.45), np.float32)
        c.paint(c.box(horizon - 0.5, -2, street_bottom, s + 2), asphalt, tex=0.1)
        mid = (horizon + street_bottom) / 2
        for x in np.arange(rng.uniform(0, 0.2) * s, s, 0.25 * s):
            c.paint(c.box(mid - 0.4, x, mid + 0.4, x + 0.1 * s), (0.9, 0.9, 0.8), opacity=0.7)
        lay.street = (horizon, street_bottom)
        lay.ground_top = street_bottom + rng.uniform(0.0, 0.05) * s
        _perspective_floor(c, lay, lay.ground_top, rng)
        return lay

    horizon = rng.uniform(0.3, 0.5) * s
    floor_line = rng.uniform(0.62, 0.9) * s
    lay = _Layout(kind, horizon, floor_line, cam, None)
    if kind == "door":
        paint = _jitter(rng, _WALL_PAINTS[rng.integers(len(_WALL_PAINTS))], 0.1)
        c.rgb[:] = paint
        if rng.random() < 0.5:  # horizontal siding
            pitch = rng.uniform(0.04, 0.08) * s
            phase = np.modf(c._centres / pitch)[0][:, None]
            c.rgb *= (0.85 + 0.15 * phase)[..., None]
        c.rgb *= (1.0 + 0.06 * _value_noise(rng, s, s, 6))[..., None]
        dw = rng.uniform(0.22, 0.42) * s
        dx = rng.uniform(-0.1, 0.9) * s - dw / 2
        dtop = rng.uniform(0.0, 0.25) * s
        frame = _jitter(rng, _WALL_PAINTS[rng.integers(len(_WALL_PAINTS))], 0.1)
        fw = rng.uniform(0.02, 0.05) * s
        c.paint(c.box(dtop - fw, dx - fw, floor_line, dx + dw + fw), frame, shade=0.3)
        leaf = (
            _jitter(rng, _WOOD[rng.integers(len(_WOOD))], 0.15)
            if rng.random() < 0.5
            else _hsv(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8))
        )
        c.paint(c.box(dtop, dx, floor_line, dx + dw), leaf, shade=0.4, tex=0.1)
        rows = int(rng.integers(1, 4))
        ph = (floor_line - dtop) / rows
        for r in range(rows):
            for k in range(2):
                y0 = dtop + r * ph + 0.1 * ph
                x0 = dx + k * dw / 2 + 0.12 * dw / 2
                panel = c.box(y0, x0, y0 + 0.8 * ph, x0 + 0.76 * dw / 2, radius=1.0)
                if r == 0 and rows > 1 and rng.random() < 0.3:
                    c.paint(panel, np.full(3, rng.uniform(0.1, 1.3), np.float32))  # glass
                else:
                    c.paint(panel, leaf * rng.uniform(0.75, 0.9), shade=-0.4)
        hx = dx + (0.85 if rng.random() < 0.5 else 0.15) * dw
        hy = dtop + 0.55 * (floor_line - dtop)
        c.paint(c.ellipse(hy, hx, 0.02 * s, 0.02 * s), (0.8, 0.75, 0.5), shade=0.8)
        if rng.random() < 0.4:  # wall lamp
            lx = dx - rng.uniform(0.08, 0.15) * s if rng.random() < 0.5 else dx + dw + 0.1 * s
            c.paint(c.box(dtop, lx - 0.02 * s, dtop + 0.08 * s, lx + 0.02 * s), (0.1, 0.1, 0.1))
            c.paint(c.ellipse(dtop + 0.05 * s, lx, 0.025 * s, 0.02 * s), (1.5, 1.4, 1.1))
    else:  # brick wall, concrete blocks or a wooden fence
        style = rng.choice(["brick", "block", "fence"])
        yy, xx = c._centres[:, None], c._centres[None, :]
        shades = rng.uniform(0.75, 1.2, 97).astype(np.float32)
        if style == "fence":
            base = _jitter(rng, _WOOD[rng.integers(len(_WOOD))], 0.2)
            pw = rng.uniform(0.06, 0.12) * s
            plank = np.floor(xx / pw).astype(np.int64)
            edge = np.modf(xx / pw)[0] < 0.08
            gain = shades[plank % 97] * (1 - 0.5 * edge) * np.ones_like(yy)
            gain = gain * (1.0 + 0.15 * _value_noise(rng, s, s, 12))
        else:
            base = (
                _jitter(rng, _BRICKS[rng.integers(len(_BRICKS))], 0.1)
                if style == "brick"
                else np.full(3, rng.uniform(0.5, 0.8), np.float32)
            )
            bh = rng.uniform(0.04, 0.08) * s * (1.0 if style == "brick" else 1.8)
            bw = bh * rng.uniform(2.0, 2.6)
            row = np.floor(yy / bh).astype(np.int64)
            shifted = xx / bw + 0.5 * (row % 2)
            col = np.floor(shifted).astype(np.int64)
            mortar = (np.modf(yy / bh)[0] < 1.2 / bh) | (np.modf(shifted)[0] < 1.2 / bw)
            gain = np.where(mortar, rng.uniform(0.6, 1.3), shades[(row * 31 + col) % 97])
            gain = gain * (1.0 + 0.1 * _value_noise(rng, s, s, 16))
        c.rgb[:] = np.maximum(gain, 0)[..., None] * base
        if style != "fence" and rng.random() < 0.4:  # a window
            wy, wx = rng.uniform(0.05, 0.3) * s, rng.uniform(0, 0.7) * s
            ww, wh = rng.uniform(0.15, 0.3) * s, rng.uniform(0.15, 0.3) * s
            c.paint(c.box(wy - 2, wx - 2, wy + wh + 2, wx + ww + 2), (0.9, 0.9, 0.9))
            c.paint(c.box(wy, wx, wy + wh, wx + ww), np.full(3, rng.uniform(0.1, 1.3), np.float32))
    _perspective_floor(c, lay, floor_line, rng)
    return lay


# --------------------------------------------------------------------------- objects


def _px_per_m(lay: _Layout, foot_y: float) -> float:
    return max(foot_y - lay.horizon, 0.5) / lay.cam_height


_SKINS = [
    (0.96, 0.80, 0.69),
    (0.88, 0.67, 0.52),
    (0.76, 0.57, 0.42),
    (0.55, 0.38, 0.26),
    (0.36, 0.24, 0.16),
    (0.27, 0.18, 0.12),
]


def _contrasting(
    rng: np.random.Generator, background: float, min_diff: float = MIN_CLOTHING_CONTRAST
) -> np.ndarray:
    """A random clothing colour whose luminance differs from ``background`` by ``min_diff``."""
    lo, hi = background - min_diff, background + min_diff
    choices = [v for v, ok in (("dark", lo > 0.04), ("light", hi < 0.92)) if ok]
    tone = choices[rng.integers(len(choices))] if choices else "dark"
    for _ in range(20):
        colour = _hsv(rng.random(), rng.uniform(0, 0.8), rng.uniform(0.05, 1.0))
        lum = float(colour @ _LUMA)
        if (tone == "dark" and lum <= lo) or (tone == "light" and lum >= hi):
            return colour
    return np.full(3, 0.03 if tone == "dark" else 0.95, np.float32)


def _person(
    c: _Canvas, rng: np.random.Generator, cx: float, fy: float, h: float
) -> dict[str, float]:
    """Draw a person ``h`` px tall, feet at row ``fy``, centred on column ``cx``.

    Clothing contrasts with what is behind it. Returns the areas in pixels of the face
    ellipse and of the torso as if nothing (frame edge, occluders) hid any of them.
    """
    behind_top = c.luminance(fy - 0.82 * h, fy - 0.49 * h, cx - 0.12 * h, cx + 0.12 * h)
    behind_legs = c.luminance(fy - 0.49 * h, fy, cx - 0.1 * h, cx + 0.1 * h)
    behind_head = c.luminance(fy - h, fy - 0.86 * h, cx - 0.06 * h, cx + 0.06 * h)
    skins = [
        s for s in _SKINS if abs(float(np.dot(s, _LUMA)) - behind_head) >= MIN_SKIN_CONTRAST
    ] or _SKINS
    skin = _jitter(rng, skins[rng.integers(len(skins))])
    top = _contrasting(rng, behind_top)
    legs_c = _contrasting(rng, behind_legs)
    hair = _jitter(
        rng,
        [(0.08, 0.06, 0.05), (0.3, 0.2, 0.1), (0.8, 0.7, 0.45), (0.6, 0.6, 0.6), (0.55, 0.25, 0.1)][
            rng.integers(5)
        ],
    )
    shoes = _hsv(rng.random(), rng.uniform(0, 0.5), rng.uniform(0.05, 0.6))
    side = rng.random() < 0.15  # side view: narrow, one arm
    facing = 1.0 if rng.random() < 0.5 else -1.0
    build = rng.uniform(0.85, 1.2)
    shade = rng.uniform(0.3, 0.8)

    head_r = 0.062 * h
    head_y = fy - h + head_r * 1.1
    shoulder_y = fy - 0.82 * h
    hip_y = fy - 0.49 * h
    knee_y = fy - 0.26 * h
    sw = (0.12 if side else 0.23) * h * build  # shoulder width
    hw = (0.10 if side else 0.17) * h * build  # hip width
    lean = facing * rng.uniform(0.0, 0.06) * h if side else 0.0
    limb = 0.038 * h * build

    # legs: stride from a random walking phase
    stride = rng.uniform(-0.35, 0.35) if side or rng.random() < 0.5 else rng.uniform(-0.12, 0.12)
    for k, sign in enumerate((-1.0, 1.0)):
        hx = cx + (0.0 if side else sign * 0.045 * h)
        phase = stride * (1 if k else -1)
        kx = hx + math.sin(phase) * 0.23 * h * (1 if side else 0.4)
        fx = kx + math.sin(phase * 0.6) * 0.24 * h * (1 if side else 0.4)
        col = legs_c * (0.85 if k == 0 else 1.0)
        c.paint(c.capsule(hip_y, hx, knee_y, kx, limb * 1.3, limb), col, shade=shade, person=True)
        c.paint(
            c.capsule(knee_y, kx, fy - 0.02 * h, fx, limb, limb * 0.8),
            col,
            shade=shade,
            person=True,
        )
        foot = c.ellipse(
            fy - 0.015 * h, fx + (facing * 0.03 * h if side else 0), 0.02 * h, 0.05 * h
        )
        c.paint(foot, shoes, person=True)

    def arm(sign: float, front: bool) -> None:
        sx = cx + lean + (facing * 0.01 * h if side else sign * (sw / 2 - limb * 0.5))
        pose = rng.choice(
            ["down", "swing", "wave", "carry", "phone"], p=[0.5, 0.35, 0.05, 0.05, 0.05]
        )
        if pose == "down":
            a1, a2 = sign * rng.uniform(0.0, 0.25), sign * rng.uniform(0.0, 0.2)
        elif pose == "swing":
            a1 = rng.uniform(-0.6, 0.6)
            a2 = a1 + rng.uniform(0.0, 0.6) * facing
        elif pose == "wave":
            a1, a2 = sign * rng.uniform(1.8, 2.6), sign * rng.uniform(2.6, 3.1)
        elif pose == "carry":
            a1, a2 = sign * rng.uniform(0.05, 0.3), -sign * rng.uniform(0.9, 1.4)
        else:
            a1, a2 = sign * rng.uniform(0.1, 0.3), -sign * rng.uniform(2.2, 2.7)
        if side:  # positive angles point the way the person faces
            a1 *= facing
            a2 = facing * abs(a2) if pose in ("carry", "phone") else a2 * facing
        ey = shoulder_y + limb + math.cos(a1) * 0.17 * h
        ex = sx + math.sin(a1) * 0.17 * h
        hy = ey + math.cos(a2) * 0.16 * h
        hx = ex + math.sin(a2) * 0.16 * h
        col = top * (1.0 if front else 0.8)
        c.paint(
            c.capsule(shoulder_y + limb, sx, ey, ex, limb * 1.15, limb),
            col,
            shade=shade,
            person=True,
        )
        sleeve_end = 0.5 if rng.random() < 0.3 else 1.0
        c.paint(
            c.capsule(ey, ex, hy, hx, limb, limb * 0.85),
            col if sleeve_end == 1.0 else skin,
            shade=shade,
            person=True,
        )
        c.paint(c.ellipse(hy, hx, limb * 1.05, limb * 1.05), skin, person=True)

    if not side:
        arm(-1.0, False)
    # torso: shoulders to hips, slightly tapered; sometimes a long coat
    coat = rng.random() < 0.25
    bottom_y = hip_y + (0.2 * h if coat else 0.02 * h)
    torso = c.polygon(
        [
            (shoulder_y, cx + lean - sw / 2),
            (shoulder_y, cx + lean + sw / 2),
            (bottom_y, cx + hw / 2 * (1.15 if coat else 1.0)),
            (bottom_y, cx - hw / 2 * (1.15 if coat else 1.0)),
        ]
    )
    c.paint(torso, top, shade=shade, tex=0.1, person=True, part="torso")
    c.paint(
        c.ellipse(shoulder_y + 0.01 * h, cx + lean, 0.03 * h, sw / 2), top, shade=shade, person=True
    )
    if side and rng.random() < 0.4:  # backpack
        bx = cx + lean - facing * (sw / 2 + 0.03 * h)
        bag = _hsv(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.6))
        c.paint(
            c.box(
                shoulder_y + 0.03 * h, bx - 0.05 * h, shoulder_y + 0.25 * h, bx + 0.05 * h, 0.02 * h
            ),
            bag,
            shade=shade,
            person=True,
        )
    # neck, head, hair or hat
    c.paint(
        c.capsule(head_y + head_r, cx + lean, shoulder_y + 0.01 * h, cx + lean, 0.034 * h),
        skin,
        shade=shade,
        person=True,
    )
    hcx = cx + lean + (facing * 0.01 * h if side else 0.0)
    c.paint(
        c.ellipse(head_y, hcx, head_r * 1.15, head_r * 0.95),
        skin,
        shade=shade,
        person=True,
        part="head",
    )
    headwear = rng.choice(["hair", "hat", "hood", "bald"], p=[0.65, 0.15, 0.05, 0.15])
    if headwear == "hair":
        c.paint(
            c.ellipse(
                head_y - head_r * 0.35,
                hcx - (facing * head_r * 0.2 if side else 0),
                head_r * 0.85,
                head_r * 1.0,
            ),
            hair,
            person=True,
            part="head",
        )
    elif headwear == "hat":
        hat = _hsv(rng.random(), rng.uniform(0, 0.8), rng.uniform(0.1, 0.8))
        c.paint(
            c.box(
                head_y - head_r * 1.25,
                hcx - head_r,
                head_y - head_r * 0.3,
                hcx + head_r,
                head_r * 0.5,
            ),
            hat,
            person=True,
            part="head",
        )
        c.paint(
            c.box(
                head_y - head_r * 0.45,
                hcx - head_r * (0.9 if side else 1.3) + (facing * head_r * 0.6 if side else 0),
                head_y - head_r * 0.2,
                hcx + head_r * 1.3,
            ),
            hat * 0.8,
            person=True,
        )
    elif headwear == "hood":
        c.paint(
            c.ellipse(
                head_y - head_r * 0.1, hcx - facing * head_r * 0.1, head_r * 1.3, head_r * 1.15
            ),
            top * 0.9,
            shade=shade,
            person=True,
            part="head",
        )
        c.paint(
            c.ellipse(
                head_y + head_r * 0.15,
                hcx + (facing * head_r * 0.3 if side else 0),
                head_r * 0.8,
                head_r * 0.65,
            ),
            skin,
            person=True,
            part="head",
        )
    arm(1.0, True)
    return {
        "head": math.pi * 1.15 * 0.95 * head_r * head_r,
        "torso": (sw + hw) / 2 * (bottom_y - shoulder_y),
    }


def _dog_or_cat(c: _Canvas, rng: np.random.Generator, cx: float, fy: float, ppm: float) -> None:
    cat = rng.random() < 0.4
    hgt = (rng.uniform(0.22, 0.32) if cat else rng.uniform(0.3, 0.75)) * ppm  # shoulder height
    length = hgt * rng.uniform(1.1, 1.6)
    fur = _jitter(
        rng,
        [
            (0.1, 0.08, 0.07),
            (0.45, 0.3, 0.15),
            (0.85, 0.8, 0.7),
            (0.55, 0.55, 0.55),
            (0.8, 0.5, 0.2),
        ][rng.integers(5)],
        0.12,
    )
    facing = 1.0 if rng.random() < 0.5 else -1.0
    leg = hgt * 0.5
    by = fy - leg - hgt * 0.2
    r = hgt * 0.08
    for k, dx in enumerate((-0.38, -0.3, 0.3, 0.38)):
        x = cx + dx * length * facing
        c.paint(
            c.capsule(by, x, fy - r, x + rng.uniform(-0.3, 0.3) * r * 2, r * 1.3, r),
            fur * (0.8 if k % 2 else 1.0),
        )
    c.paint(c.ellipse(by, cx, hgt * 0.25, length * 0.5), fur, shade=0.5, tex=0.2)
    tail_dir = rng.uniform(-1.5, 0.3)
    tx = cx - facing * length * 0.5
    c.paint(
        c.capsule(
            by - hgt * 0.05,
            tx,
            by + math.sin(tail_dir) * hgt * 0.5,
            tx - facing * math.cos(tail_dir) * hgt * 0.4,
            r * 0.9,
            r * 0.5,
        ),
        fur * 0.9,
    )
    hx = cx + facing * length * 0.5
    hy = by - hgt * rng.uniform(0.25, 0.45)
    hr = hgt * (0.2 if cat else 0.17)
    c.paint(c.capsule(by, hx - facing * hr * 0.5, hy, hx, hr * 0.8), fur, shade=0.5)
    c.paint(c.ellipse(hy, hx, hr, hr * 1.1), fur, shade=0.6)
    if cat:
        for s in (-1, 1):
            ex = hx + s * hr * 0.5
            c.paint(
                c.polygon(
                    [
                        (hy - hr * 0.5, ex - hr * 0.4),
                        (hy - hr * 1.6, ex),
                        (hy - hr * 0.5, ex + hr * 0.4),
                    ]
                ),
                fur,
            )
    else:
        c.paint(
            c.ellipse(hy + hr * 0.3, hx + facing * hr * 1.0, hr * 0.45, hr * 0.6), fur * 0.9
        )  # snout
        c.paint(
            c.ellipse(
                hy - hr * 0.2, hx - facing * hr * 0.5, hr * 0.7, hr * 0.3, angle=facing * 1.2
            ),
            fur * 0.6,
        )


def _parcel(c: _Canvas, rng: np.random.Generator, cx: float, fy: float, ppm: float) -> None:
    w = rng.uniform(0.2, 0.6) * ppm
    hgt = w * rng.uniform(0.4, 1.0)
    depth = w * rng.uniform(0.2, 0.4)
    card = (
        _jitter(rng, (0.72, 0.55, 0.36), 0.12)
        if rng.random() < 0.8
        else _hsv(rng.random(), 0.5, 0.7)
    )
    x0 = cx - w / 2
    c.paint(c.box(fy - hgt, x0, fy, x0 + w), card, shade=0.3, tex=0.05)
    c.paint(
        c.polygon(
            [
                (fy - hgt, x0),
                (fy - hgt - depth, x0 + depth * 0.6),
                (fy - hgt - depth, x0 + w + depth * 0.6),
                (fy - hgt, x0 + w),
            ]
        ),
        card * 1.2,
    )
    c.paint(
        c.box(fy - hgt - depth, cx - w * 0.06, fy, cx + w * 0.06), card * 0.8, opacity=0.8
    )  # tape
    if rng.random() < 0.6:
        c.paint(
            c.box(fy - hgt * 0.7, x0 + w * 0.1, fy - hgt * 0.4, x0 + w * 0.4), (0.95, 0.95, 0.95)
        )


def _plant(
    c: _Canvas, rng: np.random.Generator, cx: float, fy: float, ppm: float, scale: float = 1.0
) -> None:
    ph = rng.uniform(0.2, 0.4) * ppm * scale
    pw = ph * rng.uniform(0.8, 1.3)
    pot = _jitter(
        rng,
        [(0.7, 0.35, 0.2), (0.4, 0.4, 0.42), (0.9, 0.9, 0.88), (0.2, 0.2, 0.22)][rng.integers(4)],
    )
    c.paint(
        c.polygon(
            [
                (fy - ph, cx - pw / 2),
                (fy - ph, cx + pw / 2),
                (fy, cx + pw * 0.35),
                (fy, cx - pw * 0.35),
            ]
        ),
        pot,
        shade=0.5,
    )
    green = _jitter(rng, _GREENS[rng.integers(len(_GREENS))], 0.2)
    tall = rng.uniform(0.3, 1.2) * ppm * scale
    if rng.random() < 0.5:  # bush: clustered leaves
        for _ in range(rng.integers(6, 16)):
            r = rng.uniform(0.15, 0.35) * tall
            c.paint(
                c.ellipse(
                    fy - ph - rng.uniform(0.1, 0.8) * tall,
                    cx + rng.uniform(-0.4, 0.4) * tall,
                    r * 0.6,
                    r,
                    angle=rng.uniform(0, math.pi),
                ),
                green * rng.uniform(0.7, 1.3),
                shade=0.6,
            )
    else:  # spiky: long leaves radiating from the pot
        for _ in range(rng.integers(5, 12)):
            a = rng.uniform(-0.9, 0.9)
            length = tall * rng.uniform(0.6, 1.0)
            c.paint(
                c.capsule(
                    fy - ph,
                    cx,
                    fy - ph - math.cos(a) * length,
                    cx + math.sin(a) * length,
                    pw * 0.08,
                    pw * 0.02,
                ),
                green * rng.uniform(0.7, 1.3),
            )


def _bin(c: _Canvas, rng: np.random.Generator, cx: float, fy: float, ppm: float) -> None:
    h = rng.uniform(0.9, 1.2) * ppm
    w = h * rng.uniform(0.45, 0.65)
    col = _hsv(rng.choice([0.0, 0.33, 0.6, 0.1]), rng.uniform(0, 0.7), rng.uniform(0.15, 0.7))
    c.paint(c.box(fy - h * 0.9, cx - w / 2, fy, cx + w / 2, radius=w * 0.08), col, shade=0.6)
    c.paint(
        c.box(fy - h, cx - w * 0.55, fy - h * 0.88, cx + w * 0.55, radius=w * 0.05),
        col * 0.8,
        shade=0.4,
    )
    c.paint(c.ellipse(fy - h * 0.02, cx + w * 0.4, h * 0.06, h * 0.06), (0.05, 0.05, 0.05))


def _lamp_post(c: _Canvas, rng: np.random.Generator, cx: float, fy: float, ppm: float) -> None:
    h = rng.uniform(1.0, 2.2) * ppm
    w = max(rng.uniform(0.05, 0.12) * ppm, 1.0)
    metal = np.full(3, rng.uniform(0.05, 0.5), np.float32)
    c.paint(c.box(fy - h, cx - w / 2, fy, cx + w / 2), metal, shade=0.6)
    top = fy - h
    if rng.random() < 0.5:  # round lamp: a "head" on a "body"
        c.paint(
            c.ellipse(top - w * 1.2, cx, w * 1.6, w * 1.4),
            np.full(3, rng.uniform(0.6, 1.5), np.float32),
        )
    else:  # mailbox
        c.paint(
            c.box(top - w * 2.5, cx - w * 2, top + w * 0.2, cx + w * 2, radius=w),
            _hsv(rng.random(), 0.6, 0.5),
            shade=0.5,
        )


def _car(c: _Canvas, rng: np.random.Generator, lay: _Layout) -> None:
    top, bottom = lay.street
    fy = rng.uniform(top + min(1.0, bottom - top), bottom)  # at 32 px the street can be thin
    ppm = _px_per_m(lay, fy)
    length = rng.uniform(3.8, 5.0) * ppm
    h = rng.uniform(1.3, 1.7) * ppm
    x0 = rng.uniform(-0.5, 1.0) * c.size
    paint = _hsv(rng.random(), rng.uniform(0, 0.9), rng.uniform(0.1, 0.95))
    c.paint(c.box(fy - h * 0.6, x0, fy - h * 0.12, x0 + length, radius=h * 0.1), paint, shade=0.5)
    c.paint(
        c.polygon(
            [
                (fy - h * 0.58, x0 + length * 0.15),
                (fy - h, x0 + length * 0.3),
                (fy - h, x0 + length * 0.65),
                (fy - h * 0.58, x0 + length * 0.82),
            ]
        ),
        paint * 0.9,
    )
    c.paint(
        c.polygon(
            [
                (fy - h * 0.6, x0 + length * 0.2),
                (fy - h * 0.93, x0 + length * 0.33),
                (fy - h * 0.93, x0 + length * 0.62),
                (fy - h * 0.6, x0 + length * 0.77),
            ]
        ),
        np.full(3, rng.uniform(0.1, 0.6), np.float32),
    )
    for wx in (0.2, 0.8):
        c.paint(c.ellipse(fy - h * 0.14, x0 + wx * length, h * 0.14, h * 0.14), (0.05, 0.05, 0.05))
    c.paint(c.ellipse(fy - h * 0.42, x0 + length * 0.97, h * 0.06, h * 0.05), (1.5, 1.5, 1.3))


def _foreground(c: _Canvas, rng: np.random.Generator) -> list[str]:
    """Occluders close to the camera, drawn over everything else; returns their kinds."""
    s = c.size
    drawn = []
    if rng.random() < 0.3:  # door post at a side of the frame
        w = rng.uniform(0.06, 0.2) * s
        left = rng.random() < 0.5
        x0 = -rng.uniform(0, 0.5) * w if left else s - w * rng.uniform(0.5, 1.0)
        wood = _jitter(
            rng,
            _WOOD[rng.integers(len(_WOOD))]
            if rng.random() < 0.5
            else _WALL_PAINTS[rng.integers(len(_WALL_PAINTS))],
            0.1,
        )
        c.paint(c.box(-2, x0, s + 2, x0 + w), wood, shade=0.5, tex=0.1)
        drawn.append("door_post")
    if rng.random() < 0.15:  # railing across the bottom
        rail_y = rng.uniform(0.55, 0.8) * s
        col = _jitter(
            rng,
            _WALL_PAINTS[rng.integers(len(_WALL_PAINTS))]
            if rng.random() < 0.5
            else (0.1, 0.1, 0.1),
        )
        c.paint(c.box(rail_y, -2, rail_y + 0.03 * s, s + 2), col, shade=0.3)
        pitch = rng.uniform(0.12, 0.25) * s
        for x in np.arange(rng.uniform(0, pitch), s, pitch):
            c.paint(c.box(rail_y, x, s + 2, x + 0.025 * s), col, shade=0.3)
        drawn.append("railing")
    if rng.random() < 0.15:  # a big plant at a bottom corner
        cx = rng.choice([rng.uniform(-0.1, 0.2), rng.uniform(0.8, 1.1)]) * s
        _plant(c, rng, cx, s * rng.uniform(1.0, 1.15), s, scale=rng.uniform(0.4, 0.7))
        drawn.append("plant")
    return drawn


# --------------------------------------------------------------------------- camera


def _gauss_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma < 0.3:
        return img
    r = max(math.ceil(2.5 * sigma), 1)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2).astype(np.float32)
    k /= k.sum()
    out = img
    for axis in (0, 1):
        pad = [(0, 0)] * img.ndim
        pad[axis] = (r, r)
        p = np.pad(out, pad, mode="edge")
        acc = np.zeros_like(out)
        n = out.shape[axis]
        for i, w in enumerate(k):
            acc += w * np.take(p, np.arange(i, i + n), axis=axis)
        out = acc
    return out


def _barrel(img: np.ndarray, k: float) -> np.ndarray:
    """Wide-angle barrel distortion that keeps the corners fixed (bilinear)."""
    s = img.shape[0]
    u = (np.arange(s, dtype=np.float32) + 0.5) / s * 2 - 1
    uy, ux = np.meshgrid(u, u, indexing="ij")
    f = (1 + k * (uy * uy + ux * ux)) / (1 + 2 * k)
    sy = np.clip(((uy * f) + 1) / 2 * s - 0.5, 0, s - 1.001)
    sx = np.clip(((ux * f) + 1) / 2 * s - 0.5, 0, s - 1.001)
    y0, x0 = sy.astype(np.int64), sx.astype(np.int64)
    fy, fx = sy - y0, sx - x0
    if img.ndim == 3:
        fy, fx = fy[..., None], fx[..., None]
    top = img[y0, x0] * (1 - fx) + img[y0, x0 + 1] * fx
    bot = img[y0 + 1, x0] * (1 - fx) + img[y0 + 1, x0 + 1] * fx
    return (top * (1 - fy) + bot * fy).astype(np.float32)


def _camera(
    c: _Canvas, rng: np.random.Generator, channels: int
) -> tuple[np.ndarray, np.ndarray, str]:
    """Lighting, optics and sensor. Returns (uint8 image, person coverage, lighting)."""
    s = c.size
    lighting = str(rng.choice(["day", "dusk", "night", "ir"], p=[0.5, 0.15, 0.15, 0.2]))
    yy = (np.arange(s, dtype=np.float32)[:, None] + 0.5) / s * 2 - 1
    xx = (np.arange(s, dtype=np.float32)[None, :] + 0.5) / s * 2 - 1
    r2 = yy * yy + xx * xx
    img = c.rgb
    if lighting == "ir":
        img = np.repeat((img @ _LUMA)[..., None], 3, axis=2)
    if lighting == "day":
        gain = rng.uniform(0.75, 1.3)
        tint = 1.0 + rng.uniform(-0.08, 0.08, 3).astype(np.float32)
        illum = np.float32(gain)
        read, shot = rng.uniform(0.002, 0.008), rng.uniform(0.004, 0.012)
    elif lighting == "dusk":
        gain = rng.uniform(0.45, 0.75)
        tint = np.array([1.05, 0.95, 0.9], np.float32) * (1.0 + rng.uniform(-0.05, 0.05, 3))
        illum = np.float32(gain)
        read, shot = rng.uniform(0.006, 0.015), rng.uniform(0.01, 0.02)
    elif lighting == "night":  # porch lamp: a warm pool of light, dark elsewhere
        ly, lx = rng.uniform(-1.2, 0.2), rng.uniform(-0.8, 0.8)
        spread = rng.uniform(0.6, 1.4)
        pool = np.exp(-((yy - ly) ** 2 + (xx - lx) ** 2) / (2 * spread * spread))
        illum = rng.uniform(0.4, 0.55) + rng.uniform(0.5, 0.9) * pool
        tint = np.array([1.15, 0.95, 0.7], np.float32)
        read, shot = rng.uniform(0.008, 0.02), rng.uniform(0.012, 0.025)
    else:  # infrared LEDs around the lens: bright centre, strong fall-off
        illum = rng.uniform(0.8, 1.2) * np.exp(-r2 / rng.uniform(1.2, 2.5))
        tint = np.ones(3, np.float32)
        read, shot = rng.uniform(0.006, 0.018), rng.uniform(0.012, 0.025)
    vignette = 1.0 - rng.uniform(0.0, 0.35) * r2 / 2.0
    illum = np.asarray(illum * vignette, dtype=np.float32)
    img = img * illum[..., None] * tint
    gamma = rng.uniform(0.8, 1.25)
    img = np.power(np.clip(img, 0.0, 4.0), gamma)

    person = c.person
    if rng.random() < 0.35:
        k = rng.uniform(0.0, 0.12)
        img, person = _barrel(img, k), _barrel(person, k)
    img = _gauss_blur(img, rng.uniform(0.0, 0.8) if rng.random() < 0.7 else 0.0)
    if channels == 1:
        img = (img @ _LUMA)[..., None]
    noise = rng.standard_normal(img.shape).astype(np.float32)
    img = img + noise * np.sqrt(read * read + shot * shot * np.clip(img, 0, 1))
    pixels = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    return pixels, person, lighting


# --------------------------------------------------------------------------- scenes


def _scene_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(index,)))


def _person_box(cover: np.ndarray) -> tuple[tuple[int, int, int, int] | None, float, float]:
    visible = cover > 0.5
    n = int(visible.sum())
    if n == 0:
        return None, 0.0, 0.0
    rows, cols = np.flatnonzero(visible.any(axis=1)), np.flatnonzero(visible.any(axis=0))
    box = (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)
    area = (box[2] - box[0]) * (box[3] - box[1]) / cover.size
    return box, area, n / cover.size


def _place_person(c: _Canvas, rng: np.random.Generator, lay: _Layout) -> tuple[float, float, float]:
    """Choose (centre column, foot row, height px) for a clearly visible person."""
    s = c.size
    h = s * math.exp(rng.uniform(math.log(PERSON_HEIGHT[0]), math.log(PERSON_HEIGHT[1])))
    person_m = rng.uniform(1.5, 1.95) if rng.random() < 0.85 else rng.uniform(1.1, 1.5)
    fy = lay.horizon + h * lay.cam_height / person_m
    if fy < lay.ground_top + 1.0:
        fy = lay.ground_top + rng.uniform(1.0, 0.06 * s)
        h = (fy - lay.horizon) * person_m / lay.cam_height
    cx = rng.uniform(0.12, 0.88) * s
    return cx, fy, h


def _render_once(rng: np.random.Generator, size: int, channels: int, want_person: bool) -> Scene:
    c = _Canvas(size, rng)
    lay = _background(c, rng)
    objects: list[str] = []
    if lay.street is not None:
        for _ in range(rng.choice([0, 0, 1, 1, 2])):
            _car(c, rng, lay)
            objects.append("car")

    # ground-standing things, drawn far to near
    items: list[tuple[float, str, float]] = []  # (foot row, kind, column)
    for _ in range(rng.integers(0, 3)):
        kind = str(
            rng.choice(["pet", "parcel", "plant", "bin", "post"], p=[0.3, 0.3, 0.3, 0.05, 0.05])
        )
        fy = rng.uniform(lay.ground_top + 1.0, size * 1.08)
        items.append((fy, kind, rng.uniform(-0.05, 1.05) * size))
    person_h, part_areas = 0.0, {}
    if want_person:
        cx, fy, person_h = _place_person(c, rng, lay)
        items.append((fy, "person", cx))
    for fy, kind, cx in sorted(items, key=lambda t: t[0]):
        ppm = _px_per_m(lay, fy)
        objects.append(kind)
        if kind == "person":
            part_areas = _person(c, rng, cx, fy, person_h)
        elif kind == "pet":
            _dog_or_cat(c, rng, cx, fy, ppm)
        elif kind == "parcel":
            _parcel(c, rng, cx, fy, ppm)
        elif kind == "plant":
            _plant(c, rng, cx, fy, ppm)
        elif kind == "bin":
            _bin(c, rng, cx, fy, ppm)
        else:
            _lamp_post(c, rng, cx, fy, ppm)
    objects += _foreground(c, rng)
    for part, area in part_areas.items():
        if float(c.parts[part].sum()) < MIN_PART_VISIBLE[part] * area:
            raise _Retry  # head and shoulders stay in view; the rest may be hidden

    pixels, cover, lighting = _camera(c, rng, channels)
    box, box_fraction, pixel_fraction = _person_box(cover)
    person = box_fraction >= MIN_PERSON_BOX_FRACTION and pixel_fraction >= MIN_PERSON_PIXEL_FRACTION
    if person != want_person:
        raise _Retry
    return Scene(
        image=pixels,
        label=int(person),
        person_box=box if person else None,
        person_box_fraction=box_fraction if person else 0.0,
        background=lay.kind,
        lighting=lighting,
        objects=tuple(objects),
    )


class _Retry(Exception):
    """The rendered scene did not meet its intended label; draw another."""


def render_scene(seed: int, index: int, size: int = 96, channels: int = 1) -> Scene:
    """Render scene ``index`` of ``seed``; independent of how many scenes are generated."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    if size < 32:
        raise ValueError(f"size must be at least 32, not {size}")
    rng = _scene_rng(seed, index)
    want_person = bool(rng.random() < 0.5)
    for _ in range(_MAX_ATTEMPTS):
        try:
            return _render_once(rng, size, channels, want_person)
        except _Retry:
            continue
    raise RuntimeError(f"scene {index} of seed {seed}: no valid layout in {_MAX_ATTEMPTS} attempts")


def generate_scenes(
    n: int, seed: int, size: int = 96, channels: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Render ``n`` scenes: uint8 images [n, size, size, channels] and int64 labels [n].

    Same arguments give identical bytes; scene ``i`` does not depend on ``n``.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    images = np.empty((n, size, size, channels), dtype=np.uint8)
    labels = np.empty((n,), dtype=np.int64)
    for i in _progress(range(n), n, "synthetic-doorbell"):
        scene = render_scene(seed, i, size, channels)
        images[i] = scene.image
        labels[i] = scene.label
    return images, labels


def _progress(it, n: int, desc: str):
    if n <= _PROGRESS_THRESHOLD:
        return it
    from tqdm import tqdm

    return tqdm(it, total=n, desc=desc, unit="img", file=sys.stderr, mininterval=1.0)


# --------------------------------------------------------------------------- dataset files


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _split_indices(
    labels: np.ndarray, seed: int, val_fraction: float, test_fraction: float
) -> np.ndarray:
    """Stratified split: returns an array of split names per image."""
    rng = np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(2**32 - 1,)))
    split = np.empty(len(labels), dtype=object)
    for cls in (0, 1):
        idx = np.flatnonzero(labels == cls)
        idx = idx[rng.permutation(len(idx))]
        n_test = round(len(idx) * test_fraction)
        n_val = round(len(idx) * val_fraction)
        split[idx[:n_test]] = "test"
        split[idx[n_test : n_test + n_val]] = "val"
        split[idx[n_test + n_val :]] = "train"
    return split


def build_dataset(
    out_dir: Path,
    n: int,
    seed: int,
    size: int = 96,
    channels: int = 1,
    val_fraction: float = 0.1,
    test_fraction: float = 0.15,
) -> Path:
    """Render ``n`` scenes, split them, write {train,val,test}.npz and manifest.json.

    Returns the manifest path. Splits are stratified by label with a fixed seed.
    """
    if not (
        0.0 <= val_fraction < 1.0
        and 0.0 <= test_fraction < 1.0
        and val_fraction + test_fraction < 1.0
    ):
        raise ValueError(f"bad split fractions: val={val_fraction}, test={test_fraction}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    images, labels = generate_scenes(n, seed, size, channels)
    split = _split_indices(labels, seed, val_fraction, test_fraction)

    manifest: dict = {
        "name": DATASET_NAME,
        "generator_version": GENERATOR_VERSION,
        "seed": int(seed),
        "size": int(size),
        "channels": int(channels),
        "rule": LABEL_RULE,
        "licence": LICENCE,
        "counts": {},
        "files": {},
        "images": [],
    }
    for name in SPLITS:
        idx = np.flatnonzero(split == name)
        path = out_dir / f"{name}.npz"
        np.savez(
            path,
            images=images[idx],
            labels=labels[idx],
            ids=np.array([f"syn-{seed}-{i}" for i in idx]),
        )
        manifest["counts"][name] = {
            "person": int((labels[idx] == 1).sum()),
            "no_person": int((labels[idx] == 0).sum()),
        }
        manifest["files"][name] = {"path": path.name, "sha256": _sha256_file(path)}
    for i in range(n):
        manifest["images"].append(
            {
                "id": f"syn-{seed}-{i}",
                "label": int(labels[i]),
                "split": str(split[i]),
                "sha256": hashlib.sha256(np.ascontiguousarray(images[i]).tobytes()).hexdigest(),
            }
        )
    manifest_path = out_dir / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest_path


def manifest_sha256(path: Path) -> str:
    """sha256 (hex) of the manifest file's bytes."""
    return _sha256_file(Path(path))


def load_manifest(manifest_path: Path) -> dict:
    """A dataset manifest in this layout (synthetic, or any Peekless dataset that shares
    it), checked for the keys the loaders use."""
    manifest = json.loads(Path(manifest_path).read_text())
    missing = [k for k in ("name", "counts", "files", "images") if k not in manifest]
    if missing:
        raise ValueError(f"{manifest_path}: not a dataset manifest (no {', '.join(missing)})")
    return manifest


def _load_npz(manifest_path: Path, split: str) -> dict[str, np.ndarray]:
    manifest_path = Path(manifest_path)
    manifest = load_manifest(manifest_path)
    if split not in manifest["files"]:
        raise ValueError(f"{manifest_path}: no split {split!r} (have {sorted(manifest['files'])})")
    entry = manifest["files"][split]
    path = manifest_path.parent / entry["path"]
    actual = _sha256_file(path)
    if actual != entry["sha256"]:
        raise ValueError(f"{path}: sha256 {actual} does not match manifest ({entry['sha256']})")
    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    want = manifest["counts"][split]
    got = {
        "person": int((data["labels"] == 1).sum()),
        "no_person": int((data["labels"] == 0).sum()),
    }
    if got != want:
        raise ValueError(f"{path}: label counts {got} differ from manifest {want}")
    return data


def load_split(manifest_path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 NHWC) and labels (int64) of one split, verified against the manifest."""
    data = _load_npz(manifest_path, split)
    return data["images"], data["labels"]


def load_split_ids(manifest_path: Path, split: str) -> list[str]:
    """Image ids of one split, in the order ``load_split`` returns the images."""
    return [str(x) for x in _load_npz(manifest_path, split)["ids"]]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Build the synthetic-doorbell dataset.")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--n", type=int, default=3000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--channels", type=int, default=1, choices=(1, 3))
    a = p.parse_args(argv)
    manifest_path = build_dataset(a.out_dir, a.n, a.seed, a.size, a.channels)
    counts = json.loads(manifest_path.read_text())["counts"]
    print(f"manifest: {manifest_path} (sha256 {manifest_sha256(manifest_path)})")
    for split, c in counts.items():
        print(f"  {split}: {c['person']} person, {c['no_person']} no person")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
