"""Train the float Keras model on a dataset manifest (synthetic doorbell, COCO-VWW, folders).

One function per stage: ``train`` writes ``model.keras`` and ``training_history.json``
(per-epoch metrics, the resolved recipe and configuration, and the dataset manifest's
sha256); ``evaluate_keras`` measures float accuracy on a split.

Recipes (training/recipes.py) choose the architecture, optimizer, schedule and
augmentation: ``doorbell`` (default) or ``mlperf`` (MLPerf Tiny VWW). During training:

- ``out_dir/checkpoints/``: the model with its optimizer state after every epoch
  (``epoch-NNNN.keras``, the last two kept) and ``state.json`` (epochs done, history,
  configuration). ``resume=True`` loads the last one and continues with the next epoch;
  the optimizer's step count, moments and learning-rate schedule come back with it, and the
  data order and augmentation of every epoch depend only on (seed, epoch), so a resumed run
  sees the same batches as an uninterrupted one (results agree to float rounding; see
  tests/test_training.py).
- ``out_dir/tensorboard/``: Keras' TensorBoard logs (per-epoch loss, accuracy, learning
  rate; ``tensorboard --logdir out_dir/tensorboard``). TF 2.21 no longer installs the
  ``tensorboard`` package that writing them needs; without it training goes on unlogged.
- one progress line per epoch.

Quantization-aware training is not offered: tensorflow-model-optimization (0.8.1, the
latest) supports only Keras 2 (it imports ``tf_keras`` and sets ``TF_USE_LEGACY_KERAS``),
and this project's models are Keras 3. Post-training full-int8 quantization
(training/quantize.py) is what the pipeline uses; its float/int8 agreement is measured and
reported (``quantize_report.json``).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from peekless.errors import UserError
from training.ingest import load_manifest, load_split, manifest_sha256
from training.ingest.manifest import LABEL_NAMES
from training.preprocess import to_float_input
from training.recipes import (
    RECIPES,
    Augmentation,
    augment_batch,
    eval_dataset,
    get_recipe,
    make_optimizer,
    steps_per_epoch,
    training_dataset,
)
from training.run_paths import path_for_record

# The doorbell recipe's augmentation, kept under its old names.
MAX_SHIFT = RECIPES["doorbell"].augmentation.shift_px
GAIN_RANGE = RECIPES["doorbell"].augmentation.gain
LEARNING_RATE = RECIPES["doorbell"].learning_rate
WEIGHT_DECAY = RECIPES["doorbell"].weight_decay

CHECKPOINT_DIR = "checkpoints"
STATE_FILE = "state.json"
TENSORBOARD_DIR = "tensorboard"
KEEP_CHECKPOINTS = 2
# What must match for --resume to continue a run (anything else would change its result).
_RESUME_KEYS = ("recipe", "arch", "input_shape", "width", "epochs", "batch_size", "seed")


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def augment(
    pixels: np.ndarray,
    rng: np.random.Generator,
    max_shift: int = MAX_SHIFT,
    augmentation: Augmentation | None = None,
) -> np.ndarray:
    """Training-time augmentation of uint8 pixels [N, H, W, C] -> float32 model input.

    Default: the doorbell recipe's random horizontal flip (p=0.5), whole-pixel shift of up
    to ``max_shift`` px in each direction (edge pixels repeat) and exposure gain in
    ``GAIN_RANGE``; the result is ``pixels / 255`` clipped to [0, 1]. ``augmentation``
    picks another recipe's (``RECIPES["mlperf"].augmentation``). The training pipeline
    applies the same ops inside tf.data (training/recipes.py), never inside the model.
    """
    aug = augmentation or Augmentation(flip=True, shift_px=max_shift, gain=GAIN_RANGE)
    return augment_batch(pixels, rng, aug)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_checkpoint_state(out_dir: Path) -> dict | None:
    """The ``state.json`` of a run folder's last checkpoint, or None."""
    path = Path(out_dir) / CHECKPOINT_DIR / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else None


@functools.cache
def _callback_classes():
    """The Keras callbacks train() uses, defined on first use (Keras loads slowly)."""
    keras = _keras()

    class Checkpoint(keras.callbacks.Callback):
        """After each epoch: save the model with its optimizer state, then ``state.json``
        naming it (written last and atomically, so a crash leaves the previous one valid)."""

        def __init__(self, ckpt_dir: Path, config: dict, history: list[dict]):
            super().__init__()
            self.ckpt_dir, self.config, self.history = ckpt_dir, config, history

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.history.append(_epoch_record(epoch, logs, self.model))
            name = f"epoch-{epoch + 1:04d}.keras"
            self.model.save(self.ckpt_dir / name)
            state = {
                "epoch": epoch + 1,
                "checkpoint": name,
                "config": self.config,
                "history": self.history,
                "optimizer_iterations": int(self.model.optimizer.iterations.numpy()),
            }
            _atomic_write(self.ckpt_dir / STATE_FILE, json.dumps(state, indent=1) + "\n")
            for old in sorted(self.ckpt_dir.glob("epoch-*.keras"))[:-KEEP_CHECKPOINTS]:
                old.unlink()

    class Progress(keras.callbacks.Callback):
        """One line per epoch: metrics, learning rate, time and an estimate of what is left."""

        def __init__(self, epochs: int, log: Callable[[str], None]):
            super().__init__()
            self.epochs, self.log = epochs, log
            self.t0 = self.started = time.perf_counter()
            self.done = 0

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            seconds = time.perf_counter() - self.t0
            self.done += 1
            left = (time.perf_counter() - self.started) / self.done * (self.epochs - epoch - 1)
            metrics = "  ".join(
                f"{k} {float(logs[k]):.4f}"
                for k in ("loss", "accuracy", "val_loss", "val_accuracy")
                if k in logs
            )
            lr = float(np.asarray(self.model.optimizer.learning_rate))
            self.log(
                f"epoch {epoch + 1}/{self.epochs}  {metrics}  lr {lr:.3g}  "
                f"{seconds:.1f} s  (about {left / 60:.1f} min left)"
            )

    return Checkpoint, Progress


def _epoch_record(epoch: int, logs: dict | None, model) -> dict:
    record = {"epoch": epoch + 1}
    record.update({k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"})
    # The rate the optimizer will use next, i.e. at the end of this epoch.
    record["learning_rate"] = float(np.asarray(model.optimizer.learning_rate))
    return record


def _tensorboard_callback(log_dir: Path, log: Callable[[str], None]):
    if importlib.util.find_spec("tensorboard") is None:
        log("note: the tensorboard package is not installed; no TensorBoard logs are written")
        return None
    return _keras().callbacks.TensorBoard(
        log_dir=str(log_dir), update_freq="epoch", write_graph=False, profile_batch=0
    )


def start_run(manifest_path: Path, out_dir: Path, seed: int):
    """What every training run (ordinary, multi-worker, DP) does first: make ``out_dir``,
    seed Keras, and load the manifest and its train and val splits (train must not be
    empty). Returns (manifest, (x_train, y_train), (x_val, y_val))."""
    manifest = load_manifest(manifest_path)  # first: a wrong path leaves nothing behind
    train_split = load_split(manifest_path, "train")
    if len(train_split[0]) == 0:
        raise UserError(f"{manifest_path}: the train split is empty (build a larger dataset)")
    missing = [name for label, name in LABEL_NAMES.items() if not (train_split[1] == label).any()]
    if missing:
        raise UserError(
            f"{manifest_path}: the train split has no {missing[0]} image; a detector needs "
            f"both classes (add {missing[0]} pictures and build the dataset again)"
        )
    val_split = load_split(manifest_path, "val")
    keras = _keras()
    out_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    return manifest, train_split, val_split


def train(
    manifest_path: Path,
    out_dir: Path,
    epochs: int | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    width: float = 0.25,
    *,
    recipe: str = "doorbell",
    arch: str | None = None,
    resume: bool = False,
    resume_dir: Path | None = None,
    callbacks: Sequence = (),
    strategy=None,
    is_chief: bool = True,
    verbose: bool = True,
    init: str | None = None,
) -> Path:
    """Train on the manifest's train split, validating on its val split.

    Writes out_dir/model.keras and out_dir/training_history.json; returns the model path.

    epochs, batch_size: None takes the recipe's (doorbell: 40 and 32; mlperf: 50 and 32).
    arch: an architecture from ``training.model.ARCHITECTURES``; None takes the recipe's.
    resume: continue from out_dir's last checkpoint (same configuration required); with no
        checkpoint there, start from the first epoch.
    resume_dir: read the checkpoint from this run folder instead of out_dir (multi-worker
        runs: the other workers resume from the chief's folder).
    callbacks: extra Keras callbacks, called after the checkpoint of each epoch is written.
    strategy: a ``tf.distribute`` strategy (training/distributed.py); batch_size is then
        the global batch size and incomplete last batches are dropped.
    is_chief: False for a multi-worker run's other workers (they write to a scratch out_dir).
    init: start from a pretrained model instead of ``arch``'s random weights: a registry
        name (``mlperf-vww``) or a .keras / .h5 file (training/pretrained_init.py, which
        adapts it to the dataset and saves it as out_dir/init_model.keras); the recipe's
        ``freeze`` says which weights train.

    Deterministic for a given seed: the weights come from seeded initialisers, and each
    epoch's order and augmentation from numpy generators seeded by (seed, epoch).
    """
    from training.model import build_model

    log = print if verbose else (lambda _msg: None)
    rec = get_recipe(recipe)
    epochs = rec.epochs if epochs is None else int(epochs)
    batch_size = rec.batch_size if batch_size is None else int(batch_size)
    arch = arch or rec.arch
    if epochs < 1 or batch_size < 1:
        raise UserError(f"--epochs and --batch-size must be 1 or more (got {epochs}, {batch_size})")
    distributed = strategy is not None and strategy.num_replicas_in_sync > 1

    manifest_path, out_dir = Path(manifest_path), Path(out_dir)
    manifest, (x_train, y_train), (x_val, y_val) = start_run(manifest_path, out_dir, seed)
    keras = _keras()  # after the manifest: a wrong path is reported before TF loads
    input_shape = tuple(int(d) for d in x_train.shape[1:])
    num_classes = 2
    steps = steps_per_epoch(len(x_train), batch_size, drop_remainder=distributed)
    if steps == 0:
        raise UserError(
            f"{len(x_train)} training images make no full batch of {batch_size} "
            "(give a smaller --batch-size)"
        )
    sha = manifest_sha256(manifest_path)
    init_path = init_record = None
    if init is not None:
        from training.pretrained_init import prepare_init

        init_path, init_record = prepare_init(init, input_shape, out_dir / "init")
        arch = f"pretrained:{init_record.get('pretrained') or init_record['file']}"
    config = {
        "recipe": rec.name,
        "arch": arch,
        "input_shape": list(input_shape),
        "num_classes": num_classes,
        "width": width,
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "manifest_sha256": sha,
    }
    if init_record is not None:
        config.update(init=init_record, freeze=rec.freeze)

    ckpt_dir = out_dir / CHECKPOINT_DIR
    source_dir = Path(resume_dir or out_dir) / CHECKPOINT_DIR
    state = load_checkpoint_state(source_dir.parent) if resume else None
    if state is not None:
        diff = {
            k: (state["config"].get(k), config[k])
            for k in (*_RESUME_KEYS, "manifest_sha256")
            if state["config"].get(k) != config[k]
        }
        if diff:
            raise UserError(
                f"{source_dir}: cannot resume, the configuration differs (start afresh "
                "without --resume, or give the same options) "
                + ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
            )
    else:
        if resume:
            log(f"no checkpoint state in {source_dir}; starting from epoch 1")
        if ckpt_dir.exists():  # a fresh run: old checkpoints would mislead a later resume
            shutil.rmtree(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)

    scope = strategy.scope() if strategy is not None else _null_scope()
    with scope:
        if state is not None:
            model = keras.models.load_model(source_dir / state["checkpoint"])
            first_epoch, history = int(state["epoch"]), list(state["history"])
            log(
                f"resuming {source_dir / state['checkpoint']}: epoch {first_epoch + 1} of "
                f"{epochs}, optimizer step {int(model.optimizer.iterations.numpy())}"
            )
        else:
            if init_path is not None:
                from training.pretrained_init import apply_freeze

                model = keras.models.load_model(init_path, compile=False)
                apply_freeze(model, rec.freeze)
            else:
                model = build_model(input_shape=input_shape, num_classes=num_classes,
                                    width=width, seed=seed, arch=arch)  # fmt: skip
            model.compile(
                optimizer=make_optimizer(rec, epochs, steps),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            )
            first_epoch, history = 0, []

    started = time.perf_counter()
    if first_epoch < epochs:
        log(
            f"training {arch} (width {width}, {model.count_params():,} parameters) with the "
            f"{rec.name} recipe on {len(x_train)} images {input_shape}: {epochs} epochs of "
            f"{steps} batches of {batch_size}"
            + (f" over {strategy.num_replicas_in_sync} replicas" if distributed else "")
        )
        train_ds = training_dataset(
            x_train, y_train, rec.augmentation, batch_size=batch_size, seed=seed,
            first_epoch=first_epoch, epochs=epochs, drop_remainder=distributed,
            shard_by_data=distributed,
        )  # fmt: skip
        val_ds = None
        if steps_per_epoch(len(x_val), batch_size, drop_remainder=distributed):
            val_ds = eval_dataset(
                x_val, y_val, batch_size=batch_size, drop_remainder=distributed,
                shard_by_data=distributed,
            )  # fmt: skip
        checkpoint_cb, progress_cb = _callback_classes()
        if distributed:
            _build_without_reducing_a_batch(model, strategy, input_shape)
        cbs = [checkpoint_cb(ckpt_dir, config, history), progress_cb(epochs, log)]
        tensorboard = _tensorboard_callback(out_dir / TENSORBOARD_DIR, log)
        if tensorboard is not None:
            cbs.append(tensorboard)
        model.fit(
            train_ds,
            epochs=epochs,
            initial_epoch=first_epoch,
            steps_per_epoch=steps,
            validation_data=val_ds,
            callbacks=[*cbs, *callbacks],
            shuffle=False,
            verbose=0,
        )
    seconds = time.perf_counter() - started

    model_path = out_dir / "model.keras"
    model.save(model_path)
    record = {
        "config": {
            "model_family": model.name,
            **{k: v for k, v in config.items() if k != "manifest_sha256"},  # under "dataset"
            "steps_per_epoch": steps,
            "optimizer": type(model.optimizer).__name__,
            "learning_rate": rec.learning_rate,
            "schedule": rec.describe_schedule(epochs),
            "weight_decay": rec.weight_decay,
            "augmentation": rec.augmentation.describe(),
            "recipe_source": rec.source,
            "input": "pixels / 255 (training/preprocess.py to_float_input)",
            "params": int(model.count_params()),
            "trainable_params": int(sum(int(w.numpy().size) for w in model.trainable_weights)),
            "replicas": strategy.num_replicas_in_sync if strategy is not None else 1,
            "tensorflow_version": _tf_version(),
            "keras_version": keras.__version__,
        },
        "dataset": {
            "manifest": path_for_record(manifest_path, out_dir),  # relative: no home folder
            "manifest_sha256": sha,
            "name": manifest.get("name"),
            "generator_version": manifest.get("generator_version"),
            "train": len(x_train),
            "val": len(x_val),
        },
        "train_seconds": round(seconds, 2),
        "resumed_at_epoch": first_epoch + 1 if state is not None else None,
        "checkpoints": str(ckpt_dir.relative_to(out_dir)),
        "tensorboard": TENSORBOARD_DIR if (out_dir / TENSORBOARD_DIR).exists() else None,
        "epochs": history,
    }
    if is_chief:
        _atomic_write(out_dir / "training_history.json", json.dumps(record, indent=1) + "\n")
    return model_path


def _build_without_reducing_a_batch(model, strategy, input_shape: tuple[int, ...]) -> None:
    """Work around Keras 3.15's ``fit`` under MultiWorkerMirroredStrategy (keras-team/keras
    #20585), which fails twice with it:

    1. Before training it builds the model from one input batch that it first all-reduces
       with ``strategy.reduce``, which MultiWorkerMirroredStrategy refuses for an (x, y)
       tuple of per-replica values ("Attempt to convert a value (PerReplica ...)"). The
       build needs only shapes and dtypes: build from a zero batch of the right shape.
    2. After every step it reduces the scalar logs with ``strategy.reduce("MEAN", v,
       axis=0)``, which fails on a scalar ("Invalid reduction dimension 0 for input with
       0 dimensions"). Reporting the local replicas' values instead (what Keras does for
       one-worker strategies) leaves training itself alone: the optimizer all-reduces the
       gradients on its own. The logs are then this worker's share.

    Both reach into Keras internals; tests/test_distributed.py fails if they stop working.
    """
    from keras.src.backend.tensorflow import trainer

    example = (
        np.zeros((1, *input_shape), dtype=np.float32),
        np.zeros((1,), dtype=np.int64),
    )

    def build(iterator=None, data_batch=None):
        with strategy.scope():
            model._symbolic_build(data_batch=example)

    model._maybe_symbolic_build = build
    if not hasattr(trainer, "_collective_all_reduce_multi_worker"):
        raise RuntimeError(
            f"Keras {_keras().__version__} changed its multi-worker reduction; "
            "training/train.py's workaround needs a new look"
        )
    trainer._collective_all_reduce_multi_worker = lambda strategy: False


class _null_scope:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _tf_version() -> str:
    import tensorflow as tf

    return tf.__version__


def predict_keras(model, pixels: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Float logits [N, num_classes] of a Keras model for uint8 pixels: ``model`` is a
    saved model's path (.keras or Keras 2 .h5) or a model already loaded."""
    if isinstance(model, (str, os.PathLike)):
        from training.pretrained_load import load_keras_model

        model = load_keras_model(model)
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
    p.add_argument("--recipe", default="doorbell", choices=sorted(RECIPES))
    p.add_argument("--arch", default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--resume", action="store_true")
    a = p.parse_args(argv)
    model_path = train(
        a.manifest, a.out_dir, a.epochs, a.batch_size, a.seed, a.width,
        recipe=a.recipe, arch=a.arch, resume=a.resume,
    )  # fmt: skip
    print(f"model: {model_path}")
    print(f"test accuracy (float): {evaluate_keras(model_path, a.manifest):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
