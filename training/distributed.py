"""Multi-worker training (``tf.distribute.MultiWorkerMirroredStrategy``) for COCO-scale runs.

Each worker is its own process (own machine, or own port on one machine) started with the
same command and a ``TF_CONFIG`` naming the cluster and that worker::

    TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:23456", "10.0.0.2:23456"]},
                "task": {"type": "worker", "index": 0}}' peekless train M --out runs/m

or ``peekless train M --out runs/m --workers-config worker0.json`` with that JSON in a
file. Every worker trains synchronously on its share of each global batch (gradients are
all-reduced); batch_size is the global batch size and must divide by the worker count.

The TensorFlow multi-worker pattern: the chief (task type "chief", or worker 0 when the
cluster has none) writes the model, checkpoints, TensorBoard logs, training history, int8
export and model card into ``out_dir``; the other workers run the same saves into scratch
folders that they delete afterwards (saving must run on every worker). ``--resume`` reads
the chief's checkpoints from ``out_dir`` on every worker, so that folder must be on storage
all workers see.

The strategy must exist before TensorFlow runs any op in the process:
``train_distributed`` creates it first thing, so call it from a fresh process.

What to expect (measured with two workers on loopback, tests/test_distributed.py):
gradients are all-reduced, so the trainable weights are identical on every worker after
each step; BatchNormalization moving statistics are not synchronised (the usual
MultiWorkerMirroredStrategy behaviour), so the saved model carries the chief's, estimated
on its share of each batch; the loss and accuracy printed per epoch are the chief's share
too (training and validation). Keras 3.15's ``fit`` does not run under
MultiWorkerMirroredStrategy as shipped (keras-team/keras#20585): training/train.py works
around its two failing reductions (``_build_without_reducing_a_batch``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from pathlib import Path

TF_CONFIG = "TF_CONFIG"


def load_tf_config(source: str | Path | dict | None = None) -> dict | None:
    """A TF_CONFIG as a dict: from a dict, a JSON file path, a JSON string, or (None) the
    ``TF_CONFIG`` environment variable; None when there is none."""
    if source is None:
        text = os.environ.get(TF_CONFIG)
        return json.loads(text) if text else None
    if isinstance(source, dict):
        config = source
    elif isinstance(source, Path) or not str(source).lstrip().startswith("{"):
        config = json.loads(Path(source).read_text())
    else:
        config = json.loads(source)
    if "cluster" not in config or "task" not in config:
        raise ValueError(f"TF_CONFIG needs 'cluster' and 'task' (got {sorted(config)})")
    return config


def is_chief(tf_config: dict | None) -> bool:
    """True for the task that writes the outputs: 'chief', or worker 0 without a chief."""
    if not tf_config:
        return True
    task = tf_config["task"]
    if task["type"] == "chief":
        return True
    return (
        task["type"] == "worker" and int(task["index"]) == 0 and "chief" not in tf_config["cluster"]
    )


def worker_count(tf_config: dict | None) -> int:
    if not tf_config:
        return 1
    cluster = tf_config["cluster"]
    return len(cluster.get("chief", [])) + len(cluster.get("worker", []))


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` TCP ports free on ``host`` right now (for loopback clusters and tests)."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def local_cluster(workers: int, host: str = "127.0.0.1") -> list[dict]:
    """One TF_CONFIG per worker for a cluster of ``workers`` processes on this machine."""
    addresses = [f"{host}:{port}" for port in free_ports(workers, host)]
    return [
        {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": i}}
        for i in range(workers)
    ]


def make_strategy(tf_config: dict | None = None):
    """Set ``TF_CONFIG`` (when given) and create the MultiWorkerMirroredStrategy; call this
    before any other TensorFlow op in the process."""
    if tf_config is not None:
        os.environ[TF_CONFIG] = json.dumps(tf_config)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf.distribute.MultiWorkerMirroredStrategy()


def train_distributed(
    manifest_path: Path,
    out_dir: Path,
    *,
    tf_config: str | Path | dict | None = None,
    resume: bool = False,
    **train_kwargs,
) -> Path | None:
    """Train as one worker of a multi-worker cluster (``TF_CONFIG`` from ``tf_config`` or
    the environment). Returns the model path on the chief, None on the other workers.

    train_kwargs go to ``training.train.train`` (epochs, batch_size, seed, width, recipe,
    arch, callbacks, verbose). Quantizing and the model card are the caller's, on the
    chief only (``peekless train`` does both).
    """
    config = load_tf_config(tf_config)
    if config is None:
        raise ValueError("no TF_CONFIG: pass tf_config or set the TF_CONFIG variable")
    strategy = make_strategy(config)  # first: before any other TensorFlow op

    from training.train import train

    chief = is_chief(config)
    batch_size = train_kwargs.get("batch_size")
    if batch_size and batch_size % strategy.num_replicas_in_sync:
        raise ValueError(
            f"batch size {batch_size} does not divide by {strategy.num_replicas_in_sync} replicas"
        )
    out_dir = Path(out_dir)
    write_dir = out_dir if chief else Path(tempfile.mkdtemp(prefix="peekless-worker-"))
    if not chief:
        train_kwargs.setdefault("verbose", False)
    try:
        model_path = train(
            manifest_path,
            write_dir,
            strategy=strategy,
            is_chief=chief,
            resume=resume,
            resume_dir=out_dir if resume else None,
            **train_kwargs,
        )
    finally:
        if not chief:
            shutil.rmtree(write_dir, ignore_errors=True)
    return model_path if chief else None
