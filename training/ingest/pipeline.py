"""tf.data input pipeline: manifest -> shuffled training batches.

Two ways in, same batches: from the verified split arrays (the default; what every
dataset has, synthetic ones included) or, for datasets too large to hold in memory,
streaming the scrubbed PNGs listed in the manifest. Images come out as float32
``pixel / 255`` (training/preprocess.py's scale) or, with ``float_input=False``, as uint8.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from training.ingest.manifest import load_manifest, load_split
from training.preprocess import INPUT_SCALE

if TYPE_CHECKING:
    import tensorflow as tf


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def make_dataset(
    manifest_path: Path,
    split: str,
    batch_size: int = 64,
    *,
    shuffle: bool = True,
    seed: int = 0,
    from_files: bool = False,
    float_input: bool = True,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of (images [B, H, W, C], labels int64 [B]) for one split.

    shuffle: a full reshuffle each epoch, reproducible from ``seed``.
    from_files: decode the split's PNGs instead of loading the arrays into memory.
    """
    tf = _tf()  # imported lazily: TensorFlow takes seconds to load
    manifest_path = Path(manifest_path)
    if from_files:
        manifest = load_manifest(manifest_path)
        rows = [r for r in manifest["images"] if r["split"] == split]
        if any("path" not in r for r in rows):
            raise ValueError(f"{manifest_path}: rows without PNG paths; use from_files=False")
        size, channels = int(manifest["size"]), int(manifest["channels"])
        paths = [str(manifest_path.parent / r["path"]) for r in rows]
        labels = tf.constant([int(r["label"]) for r in rows], dtype=tf.int64)
        ds = tf.data.Dataset.from_tensor_slices((tf.constant(paths, dtype=tf.string), labels))
        n = len(rows)

        def decode(path, label):
            img = tf.io.decode_png(tf.io.read_file(path), channels=channels)
            return tf.ensure_shape(img, (size, size, channels)), label

        if shuffle:  # shuffle names, not decoded images: cheap at any size
            ds = ds.shuffle(max(n, 1), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        images, labels = load_split(manifest_path, split)
        ds = tf.data.Dataset.from_tensor_slices((images, labels))
        if shuffle:
            ds = ds.shuffle(max(len(labels), 1), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if float_input:
        ds = ds.map(lambda x, y: (tf.cast(x, tf.float32) * INPUT_SCALE, y))
    return ds.prefetch(tf.data.AUTOTUNE)
