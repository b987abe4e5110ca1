"""Multi-worker training: TF_CONFIG handling, and two real workers on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO


def test_tf_config_from_a_dict_a_string_a_file_or_the_environment(tmp_path, monkeypatch):
    from training.distributed import load_tf_config

    config = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
              "task": {"type": "worker", "index": 1}}  # fmt: skip
    path = tmp_path / "worker1.json"
    path.write_text(json.dumps(config))
    assert load_tf_config(config) == load_tf_config(json.dumps(config)) == config
    assert load_tf_config(path) == load_tf_config(str(path)) == config
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert load_tf_config() is None
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert load_tf_config() == config
    with pytest.raises(ValueError, match="cluster"):
        load_tf_config({"task": {"type": "worker", "index": 0}})


def test_the_chief_is_the_chief_task_or_worker_zero():
    from training.distributed import is_chief, local_cluster, worker_count

    configs = local_cluster(3)
    assert [is_chief(c) for c in configs] == [True, False, False]
    assert worker_count(configs[0]) == 3 and is_chief(None) and worker_count(None) == 1
    ports = {addr.rsplit(":", 1)[1] for addr in configs[0]["cluster"]["worker"]}
    assert len(ports) == 3  # distinct free ports
    with_chief = {"cluster": {"chief": ["h:1"], "worker": ["h:2"]}}
    assert is_chief(with_chief | {"task": {"type": "chief", "index": 0}})
    assert not is_chief(with_chief | {"task": {"type": "worker", "index": 0}})


@pytest.mark.slow
def test_two_workers_on_loopback_train_one_model_and_the_chief_writes_the_card(tmp_path):
    from training.distributed import local_cluster
    from training.synthetic import build_dataset

    manifest = build_dataset(tmp_path / "data", n=160, seed=9, size=64)
    out = tmp_path / "run"
    scratch = tmp_path / "scratch"  # the non-chief's temporary folder goes here
    scratch.mkdir()
    cmd = [sys.executable, "-m", "training.cli", "train", str(manifest), "--out", str(out),
           "--epochs", "1", "--batch-size", "16", "--no-membership"]  # fmt: skip
    procs = []
    for config in local_cluster(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(config), TMPDIR=str(scratch),
                   TF_CPP_MIN_LOG_LEVEL="3")  # fmt: skip
        procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT))  # fmt: skip
    try:
        outputs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            p.kill()
    for p, text in zip(procs, outputs):
        assert p.returncode == 0, text[-3000:]
    assert "model card:" in outputs[0] and "worker done" in outputs[1]
    assert "over 2 replicas" in outputs[0]

    for name in ("model.keras", "model_int8.tflite", "quantize_report.json",
                 "model_card.json", "MODEL_CARD.md", "roc.png", "checkpoints/state.json"):  # fmt: skip
        assert (out / name).exists(), name
    card = json.loads((out / "model_card.json").read_text())
    hyper = card["training"]["hyperparameters"]
    assert hyper["replicas"] == 2 and hyper["batch_size"] == 16
    assert hyper["steps_per_epoch"] == 120 // 16  # global batches; the last partial one dropped
    assert card["evaluation"]["int8"]["accuracy"] >= 0.0 and card["size"]["macs"] > 0
    assert list(scratch.glob("peekless-worker-*")) == []  # the worker cleaned up after itself
