"""The frames of an audit, their reference decisions, and run B's order.

1. Canary frames are drawn at the camera's size and pixel format
   (:func:`camera_canaries`): ``noise`` frames are random bytes of the format (every bit
   of every byte is a coin flip), the structured kinds of :mod:`host_tools.canaries` are
   drawn as RGB and converted, so the content diagnostics can still recognise them.
2. Each frame's reference output is LiteRT's (``BUILTIN_REF``) on the project's own
   preprocessing of that frame (:func:`reference_outputs`), and the decisions are
   ``DecisionRule.from_manifest(manifest).apply(outputs)`` over the sequence.
3. Run B shows, at every position, another frame of the same *pairing class*
   (:func:`rotation_order`): the per-frame reference decision for a stateless rule, the
   exact reference output otherwise. So both runs have the very same reference decision
   at every position, and a device that leaks nothing but its decisions must show the
   observer exactly the same thing in both. Frames whose class has no other member are
   replaced by frames drawn further on (:func:`select_frames`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..canaries import KINDS, canary_frame
from ..frame_bank import FORMAT_BYTES, FORMAT_GRAY8, FORMAT_RGB565, FORMAT_RGB888, FORMAT_YUYV
from .feeders import CameraFrames


def rgb_to_format(rgb: np.ndarray, pixfmt: int) -> np.ndarray:
    """uint8 RGB [h, w, 3] -> [h, w, bytes per pixel] in ``pixfmt`` (the camera's bytes)."""
    rgb = rgb.astype(np.int32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    if pixfmt == FORMAT_GRAY8:
        return (((77 * r + 150 * g + 29 * b + 128) >> 8)[..., None]).astype(np.uint8)
    if pixfmt == FORMAT_RGB888:
        return rgb.astype(np.uint8)
    if pixfmt == FORMAT_RGB565:
        v = (r >> 3) << 11 | (g >> 2) << 5 | (b >> 3)
        return np.stack([v & 0xFF, v >> 8], axis=-1).astype(np.uint8)
    if pixfmt == FORMAT_YUYV:
        y = ((66 * r + 129 * g + 25 * b + 128) >> 8) + 16
        u = ((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128
        v = ((112 * r - 94 * g - 18 * b + 128) >> 8) + 128
        even = np.arange(rgb.shape[1]) % 2 == 0
        chroma = np.where(even[None, :], u, v)
        return np.stack([y, chroma], axis=-1).clip(0, 255).astype(np.uint8)
    raise ValueError(f"unknown pixel format {pixfmt}")


def camera_canary(kind: str, index: int, seed: int, width: int, height: int, pixfmt: int):
    """Canary ``index`` of ``kind`` as camera bytes [h, w, bytes per pixel]."""
    bpp = FORMAT_BYTES[pixfmt]
    rng = np.random.default_rng([seed, index, 0x5E5, pixfmt])
    if kind == "noise":
        return rng.integers(0, 256, (height, width, bpp), dtype=np.uint8)
    channels = 1 if pixfmt == FORMAT_GRAY8 else 3
    if kind == "scene" and height != width:
        # A square doorbell scene in the middle (what the device's centre crop keeps, so
        # that a person detector sees people in some of them), noise beside it.
        side = min(height, width)
        img = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
        y0, x0 = (height - side) // 2, (width - side) // 2
        img[y0 : y0 + side, x0 : x0 + side] = canary_frame(kind, index, seed, side, side, channels)
    else:
        img = canary_frame(kind, index, seed, height, width, channels)
    return img if pixfmt == FORMAT_GRAY8 else rgb_to_format(img, pixfmt)


def camera_canaries(
    indices: Sequence[int],
    width: int,
    height: int,
    pixfmt: int,
    seed: int = 0,
    kinds: Sequence[str] = KINDS,
) -> tuple[CameraFrames, tuple[str, ...]]:
    """The canaries with the given indices (frame ``i`` is of kind ``kinds[i % len]`` and
    depends only on seed, index, kind, size and format)."""
    kinds = tuple(kinds)
    data = np.empty((len(indices), height, width, FORMAT_BYTES[pixfmt]), np.uint8)
    chosen = []
    for j, i in enumerate(indices):
        k = kinds[i % len(kinds)]
        data[j] = camera_canary(k, i, seed, width, height, pixfmt)
        chosen.append(k)
    return CameraFrames(data, pixfmt), tuple(chosen)


def model_inputs(frames: CameraFrames, input_shape: Sequence[int]) -> np.ndarray:
    """Each frame through the project's preprocessing (training/camera_preprocess.py,
    bit-exact with the firmware's pk_preprocess): int8 [n, h, w, c]."""
    from training.camera_preprocess import preprocess_frame

    h, w, c = (int(x) for x in input_shape[-3:])
    out = np.empty((len(frames), h, w, c), np.int8)
    for i, f in enumerate(frames.data):
        out[i] = preprocess_frame(f, frames.width, frames.height, frames.pixfmt, h, w, c)
    return out


def reference_outputs(tflite, inputs: np.ndarray) -> np.ndarray:
    """LiteRT BUILTIN_REF int8 outputs [n, classes] of the model for these inputs."""
    from training.reference import litert_reference

    return litert_reference(tflite, inputs)


def pairing_keys(outputs: np.ndarray, rule) -> list:
    """One class per frame (a hashable): frames of a class may stand in for each other in
    run B without changing any decision of the sequence, nor the rule's state.

    ``DecisionRule.frame_classes`` says what the rule reads of a frame (host_tools/
    decision_rule.py): miss/hit of ``score >= threshold`` for argmax, threshold and
    k-of-n, and for hysteresis below / between / above its two thresholds. A rule
    without it is paired by the exact reference output (equal outputs are equal for
    every rule)."""
    outputs = np.asarray(outputs)
    if hasattr(rule, "frame_classes"):
        return [int(x) for x in rule.frame_classes(outputs)]
    return [row.tobytes() for row in outputs.reshape(len(outputs), -1)]


def wanted_classes(rule) -> list:
    """The classes a frame selection looks for (each gets two members if the model gives
    them within the draws): hit and miss, and hysteresis's band between its thresholds."""
    if not hasattr(rule, "frame_classes"):
        return []
    return [2, 1, 0] if getattr(rule, "kind", None) == "hysteresis" else [1, 0]


def rotation_order(keys: np.ndarray, seed: int = 0) -> np.ndarray:
    """Run B's order: position ``i`` gets another frame of the class of frame ``i`` (the
    members of each class rotated among themselves in a seeded random cycle); a frame
    alone in its class stays in place."""
    ids = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    keys = np.asarray([ids[k] for k in keys], np.int64)
    order = np.arange(len(keys))
    rng = np.random.default_rng([seed, 0xB])
    for k in range(len(ids)):
        idx = np.flatnonzero(keys == k)
        if idx.size >= 2:
            idx = rng.permutation(idx)
            order[idx] = np.roll(idx, 1)
    return order


@dataclass
class AuditFrames:
    """What runs A and B are shown and what the reference says of them."""

    frames: CameraFrames  # run A's sequence
    kinds: tuple[str, ...]
    indices: np.ndarray  # canary index of each frame
    outputs: np.ndarray  # reference int8 outputs, run A's order
    keys: list  # pairing class of each frame
    order: np.ndarray  # run B shows frames[order[i]] at position i
    decisions_a: np.ndarray  # reference decisions of run A's sequence
    decisions_b: np.ndarray  # ... and of run B's
    unpaired: list[int]  # positions that show the same frame in both runs

    @property
    def frames_b(self) -> CameraFrames:
        return self.frames.take(self.order)


def select_frames(
    n: int,
    width: int,
    height: int,
    pixfmt: int,
    input_shape: Sequence[int],
    tflite,
    rule,
    seed: int = 0,
    kinds: Sequence[str] = KINDS,
    max_draws: int | None = None,
) -> AuditFrames:
    """``n`` canaries in which every pairing class has at least two members where the
    model allows it: canaries are drawn in index order, and one whose class turns out to
    be alone is swapped for a later canary of a class already present twice, up to
    ``max_draws`` canaries (default 4 n)."""
    max_draws = max_draws or 4 * n + 16
    indices = list(range(n))
    frames, kinds_used = camera_canaries(indices, width, height, pixfmt, seed, kinds)
    kinds_used = list(kinds_used)
    outputs = reference_outputs(tflite, model_inputs(frames, input_shape))
    keys = pairing_keys(outputs, rule)
    drawn = n
    wanted = wanted_classes(rule)
    while drawn < max_draws and (_lone(keys) or _missing(keys, wanted)):
        batch = list(range(drawn, min(max_draws, drawn + max(8, n // 4))))
        drawn = batch[-1] + 1
        extra, extra_kinds = camera_canaries(batch, width, height, pixfmt, seed, kinds)
        extra_out = reference_outputs(tflite, model_inputs(extra, input_shape))
        for j, k in enumerate(pairing_keys(extra_out, rule)):
            lone = _lone(keys)
            if k not in lone and k not in _missing(keys, wanted):
                continue
            # The partner of a lone frame replaces a frame of a class that can spare one,
            # or another lone frame.
            counts = {c: keys.count(c) for c in set(keys)}
            spare = [c for c, m in counts.items() if m > 2]
            victim_class = (
                max(spare, key=counts.get) if spare else next((c for c in lone if c != k), None)
            )
            if victim_class is None:
                continue
            victim = max(i for i, c in enumerate(keys) if c == victim_class)
            frames.data[victim] = extra.data[j]
            outputs[victim] = extra_out[j]
            keys[victim] = k
            indices[victim] = batch[j]
            kinds_used[victim] = extra_kinds[j]
    order = rotation_order(keys, seed)
    decisions_a = np.asarray(rule.apply(outputs), bool)
    decisions_b = np.asarray(rule.apply(outputs[order]), bool)
    if not np.array_equal(decisions_a, decisions_b):
        # The rule is not a function of the per-frame classes: pair by exact outputs.
        keys = [row.tobytes() for row in outputs.reshape(n, -1)]
        order = rotation_order(keys, seed)
        decisions_b = np.asarray(rule.apply(outputs[order]), bool)
    unpaired = np.flatnonzero(order == np.arange(n)).tolist()
    return AuditFrames(
        frames,
        tuple(kinds_used),
        np.asarray(indices),
        outputs,
        list(keys),
        order,
        decisions_a,
        decisions_b,
        unpaired,
    )


def _missing(keys: list, wanted: list) -> list:
    """Classes of ``wanted`` (a stateless rule's decisions) with no member yet: each is
    looked for, so that both decisions are exercised where the model gives both."""
    return [k for k in wanted if k not in keys]


def _lone(keys: list) -> list:
    """Classes with exactly one member."""
    counts: dict = {}
    for k in keys:
        counts[k] = counts.get(k, 0) + 1
    return [k for k, m in counts.items() if m == 1]


def given_frames(frames: CameraFrames, input_shape, tflite, rule, seed: int = 0) -> AuditFrames:
    """The audit's frames when the user gives them (e.g. held-out test images): run A
    shows them in order, run B rotated within their pairing classes; a frame alone in its
    class stays in place (listed in ``unpaired``)."""
    outputs = reference_outputs(tflite, model_inputs(frames, input_shape))
    keys = pairing_keys(outputs, rule)
    n = len(frames)
    order = rotation_order(keys, seed)
    decisions_a = np.asarray(rule.apply(outputs), bool)
    decisions_b = np.asarray(rule.apply(outputs[order]), bool)
    if not np.array_equal(decisions_a, decisions_b):
        keys = [row.tobytes() for row in outputs.reshape(n, -1)]
        order = rotation_order(keys, seed)
        decisions_b = np.asarray(rule.apply(outputs[order]), bool)
    return AuditFrames(
        frames, ("given",) * n, np.arange(n), outputs, list(keys), order, decisions_a,
        decisions_b, np.flatnonzero(order == np.arange(n)).tolist(),
    )  # fmt: skip


def pixel_coverage(frames: CameraFrames, order: np.ndarray) -> dict:
    """How much runs A and B differ in what they are shown: the share of bytes that
    differ, and the fewest frame positions in which any one bit of the frame differs
    (a leak that depends on one bit only shows up in a position where it differs)."""
    a = frames.data.reshape(len(frames), -1)
    b = a[order]
    diff = a ^ b
    per_bit = np.zeros(a.shape[1] * 8, np.int64)
    for row in diff:  # one frame at a time: a QVGA frame is 1.2 M bits
        per_bit += np.unpackbits(row)
    return {
        "bytes_differing": float((diff != 0).mean()) if diff.size else 0.0,
        "min_positions_per_bit": int(per_bit.min()) if per_bit.size else 0,
        "bits_never_differing": int((per_bit == 0).sum()),
        "bits": int(per_bit.size),
    }
