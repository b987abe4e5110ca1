"""Model inputs as different from each other as frames get, for the constant-time check:
an inference must execute the same number of instructions whatever its input.

Extremes (all zero, all +127, all -128, a +127/-128 checkerboard, tiny values around
zero), uniform random bytes, and camera-like frames (training/synthetic.py's doorbell
scenes at the model's input size, as int8 = pixel - 128, the MLPerf VWW input
quantization).
"""

from __future__ import annotations

import numpy as np


def extreme_inputs(shape: tuple[int, ...], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    checker = (np.indices(shape).sum(axis=0) % 2).astype(bool)
    return {
        "zeros": np.zeros(shape, np.int8),
        "all +127": np.full(shape, 127, np.int8),
        "all -128": np.full(shape, -128, np.int8),
        "checkerboard +127/-128": np.where(checker, 127, -128).astype(np.int8),
        "small (-3..3)": rng.integers(-3, 4, shape).astype(np.int8),
        "random": rng.integers(-128, 128, shape).astype(np.int8),
    }


def camera_frames(shape: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    """n synthetic doorbell scenes [n, *shape] as int8 (shape = (H, W, C), H == W)."""
    from training.synthetic import render_scene

    h, w, c = shape
    if h != w or c not in (1, 3):
        raise ValueError(f"camera frames need a square 1- or 3-channel input, not {shape}")
    frames = [render_scene(seed, i, size=h, channels=c).image.reshape(shape) for i in range(n)]
    return (np.stack(frames).astype(np.int16) - 128).astype(np.int8)


def constant_time_inputs(shape: tuple[int, ...], seed: int, camera: int = 4,
                         random: int = 0) -> tuple[list[str], np.ndarray]:
    """Names and a stack of inputs: the extremes, `camera` frames and `random` more
    uniform random inputs."""
    named = extreme_inputs(shape, seed)
    names, xs = list(named), list(named.values())
    if camera:
        try:
            frames = camera_frames(shape, camera, seed)
        except ValueError:
            frames = np.zeros((0, *shape), np.int8)
        names += [f"camera frame {i}" for i in range(len(frames))]
        xs += list(frames)
    if random:
        rng = np.random.default_rng(seed + 1)
        names += [f"random {i}" for i in range(random)]
        xs += list(rng.integers(-128, 128, (random, *shape), dtype=np.int8))
    return names, np.stack(xs)
