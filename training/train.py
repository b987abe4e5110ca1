"""Train the float Keras model on a synthetic-doorbell (or same-format) dataset.

One function per stage: ``train`` writes ``model.keras`` and ``training_history.json``
(per-epoch metrics plus the resolved configuration and the dataset manifest's sha256);
``evaluate_keras`` measures float accuracy on a split.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from training.ingest import load_manifest, load_split, manifest_sha256
from training.preprocess import to_float_input

MAX_SHIFT = 3  # pixels, augmentation shift in each direction
GAIN_RANGE = (0.8, 1.2)  # augmentation exposure gain
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 1e-4


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def augment(pixels: np.ndarray, rng: np.random.Generator, max_shift: int = MAX_SHIFT) -> np.ndarray:
    """Training-time augmentation of uint8 pixels [N, H, W, C] -> float32 model input.

    Random horizontal flip (p=0.5), shift of up to ``max_shift`` px in each direction (edge
    pixels repeat), and exposure gain in ``GAIN_RANGE``; the result is ``pixels / 255``
    clipped to [0, 1], as ``to_float_input`` would give for the altered image.
    """
    n, h, w, _ = pixels.shape
    flip = rng.random(n) < 0.5
    out = np.where(flip[:, None, None, None], pixels[:, :, ::-1], pixels)
    if max_shift > 0:
        m = max_shift
        padded = np.pad(out, ((0, 0), (m, m), (m, m), (0, 0)), mode="edge")
        dy = rng.integers(0, 2 * m + 1, n)
        dx = rng.integers(0, 2 * m + 1, n)
        for i in range(n):
            out[i] = padded[i, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
    gain = rng.uniform(*GAIN_RANGE, n).astype(np.float32)[:, None, None, None]
    return np.clip(to_float_input(out) * gain, 0.0, 1.0)


def train(
    manifest_path: Path,
    out_dir: Path,
    epochs: int = 30,
    batch_size: int = 32,
    seed: int = 0,
    width: float = 0.25,
) -> Path:
    """Train on the manifest's train split, validating on its val split.

    Writes out_dir/model.keras and out_dir/training_history.json; returns the model path.
    Deterministic for a given seed: the data order and augmentation come from numpy
    generators seeded from ``seed``, and Keras/TF/Python seeds are set with
    ``keras.utils.set_random_seed``.
    """
    keras = _keras()
    from training.model import MODEL_FAMILY, build_model

    manifest_path, out_dir = Path(manifest_path), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    manifest = load_manifest(manifest_path)
    x_train, y_train = load_split(manifest_path, "train")
    x_val, y_val = load_split(manifest_path, "val")
    if len(x_train) == 0:
        raise ValueError(f"{manifest_path}: the train split is empty")
    input_shape = tuple(int(d) for d in x_train.shape[1:])
    num_classes = 2

    model = build_model(input_shape=input_shape, num_classes=num_classes, width=width, seed=seed)
    steps_per_epoch = -(-len(x_train) // batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(
        LEARNING_RATE, decay_steps=max(epochs * steps_per_epoch, 1), alpha=0.02
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=WEIGHT_DECAY),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    val_data = (to_float_input(x_val), y_val) if len(x_val) else None
    rng = np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(0x7EA1,)))

    history: dict[str, list[float]] = {}
    started = time.perf_counter()
    for epoch in range(epochs):
        order = rng.permutation(len(x_train))
        x_epoch = augment(x_train[order], rng)
        h = model.fit(
            x_epoch,
            y_train[order],
            batch_size=batch_size,
            epochs=epoch + 1,
            initial_epoch=epoch,
            shuffle=False,
            validation_data=val_data,
            verbose=2,
        )
        for key, values in h.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
    seconds = time.perf_counter() - started

    model_path = out_dir / "model.keras"
    model.save(model_path)
    record = {
        "config": {
            "model_family": MODEL_FAMILY,
            "input_shape": list(input_shape),
            "num_classes": num_classes,
            "width": width,
            "epochs": epochs,
            "batch_size": batch_size,
            "seed": seed,
            "optimizer": "AdamW",
            "learning_rate": LEARNING_RATE,
            "schedule": "cosine, alpha 0.02",
            "weight_decay": WEIGHT_DECAY,
            "augmentation": (
                f"horizontal flip p=0.5, shift up to {MAX_SHIFT} px (edge padding), "
                f"gain {GAIN_RANGE[0]}..{GAIN_RANGE[1]}"
            ),
            "input": "pixels / 255 (training/preprocess.py to_float_input)",
            "params": int(model.count_params()),
        },
        "dataset": {
            "manifest": str(manifest_path),
            "manifest_sha256": manifest_sha256(manifest_path),
            "name": manifest.get("name"),
            "generator_version": manifest.get("generator_version"),
            "train": len(x_train),
            "val": len(x_val),
        },
        "train_seconds": round(seconds, 2),
        "epochs": [
            {"epoch": i + 1, **{k: v[i] for k, v in history.items()}} for i in range(epochs)
        ],
    }
    (out_dir / "training_history.json").write_text(json.dumps(record, indent=1) + "\n")
    return model_path


def predict_keras(model_path: Path, pixels: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Float logits [N, num_classes] of the saved Keras model for uint8 pixels."""
    keras = _keras()
    model = keras.models.load_model(model_path)
    return np.asarray(model.predict(to_float_input(pixels), batch_size=batch_size, verbose=0))


def evaluate_keras(model_path: Path, manifest_path: Path, split: str = "test") -> float:
    """Float model accuracy on one split of the dataset."""
    images, labels = load_split(manifest_path, split)
    if len(images) == 0:
        raise ValueError(f"{manifest_path}: split {split!r} is empty")
    logits = predict_keras(model_path, images)
    return float((logits.argmax(axis=1) == labels).mean())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("manifest", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=float, default=0.25)
    a = p.parse_args(argv)
    model_path = train(a.manifest, a.out_dir, a.epochs, a.batch_size, a.seed, a.width)
    print(f"model: {model_path}")
    print(f"test accuracy (float): {evaluate_keras(model_path, a.manifest):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
