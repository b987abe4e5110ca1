"""Fine-tuning from a pretrained model (`peekless train --init`): the start is the MLPerf
model adapted to the dataset (logits; gray from RGB), a fine-tune from it runs from the
CLI and writes a model card, it beats the same network from scratch after the same few
steps, and DP fine-tuning starts from the same weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED

from peekless.errors import UserError

pytestmark = pytest.mark.skipif(
    not (SHARED / "models" / "mlperf_vww_96.h5").exists(),
    reason="reference model missing in ../shared/models",
)


@pytest.fixture(autouse=True)
def shared(monkeypatch, tmp_path):
    monkeypatch.setenv("PEEKLESS_SHARED", str(SHARED))
    monkeypatch.setenv("PEEKLESS_MODEL_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def rgb(tmp_path_factory) -> Path:
    from training.synthetic import build_dataset

    return build_dataset(tmp_path_factory.mktemp("ft") / "data", n=100, seed=5, channels=3,
                         val_fraction=0.2, test_fraction=0.4)  # fmt: skip


def test_the_start_is_mlperf_as_logits_and_gray_from_rgb(tmp_path):
    import keras

    from training.pretrained import locate
    from training.pretrained_init import prepare_init
    from training.pretrained_load import load_keras_model

    with pytest.raises(UserError, match="neither a known pretrained model nor a file"):
        prepare_init("mlperf-vvw", (96, 96, 3), tmp_path / "x")
    path, record = prepare_init("mlperf-vww", (96, 96, 1), tmp_path / "init")
    assert record["pretrained"] == "mlperf-vww" and record["licence"].startswith("Apache-2.0")
    assert len(record["adapted"]) == 2 and str(tmp_path) not in json.dumps(record)
    start = keras.models.load_model(path)
    mlperf = load_keras_model(locate("mlperf-vww", "float"))
    assert start.input_shape == (None, 96, 96, 1) and start.layers[-1].get_config()["activation"] == "linear"
    # Gray from RGB: the stem's kernel summed over its input channels, the rest unchanged.
    stem, stem_rgb = start.layers[1].get_weights(), mlperf.layers[1].get_weights()
    assert np.allclose(stem[0], stem_rgb[0].sum(axis=2, keepdims=True)) and np.array_equal(stem[1], stem_rgb[1])
    assert all(np.array_equal(a, b) for a, b in zip(start.get_weights()[2:], mlperf.get_weights()[2:]))
    with pytest.raises(UserError, match="takes 96x96 images, the dataset has 48x48"):
        prepare_init("mlperf-vww", (48, 48, 3), tmp_path / "x")


@pytest.mark.slow
def test_a_fine_tune_from_mlperf_beats_scratch_after_a_few_steps(rgb, tmp_path, capsys):
    from peekless.cli import main
    from training.model_card import roc_auc
    from training.synthetic import load_split
    from training.train import predict_keras, train

    out = tmp_path / "init"
    argv = ["train", str(rgb), "--out", str(out), "--init", "mlperf-vww", "--epochs", "1",
            "--batch-size", "16", "--no-membership"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    card = json.loads((out / "model_card.json").read_text())
    hp = card["training"]["hyperparameters"]
    assert hp["recipe"] == "finetune" and hp["init"]["pretrained"] == "mlperf-vww"
    assert hp["arch"] == "pretrained:mlperf-vww" and card["operating_points"]["split"] == "val"

    # The same network, recipe and steps from random weights.
    scratch = train(rgb, tmp_path / "scratch", epochs=1, batch_size=16, recipe="finetune",
                    verbose=False)  # fmt: skip
    x, y = load_split(rgb, "test")
    auc = {name: roc_auc(y, (z := predict_keras(m, x))[:, 1] - z[:, 0])
           for name, m in (("init", out / "model.keras"), ("scratch", scratch))}  # fmt: skip
    assert auc["init"] > auc["scratch"] + 0.15, auc


@pytest.mark.slow
def test_dp_fine_tuning_starts_from_the_same_weights(rgb, tmp_path, capsys):
    from peekless.cli import main

    out = tmp_path / "dp"
    argv = ["train", str(rgb), "--out", str(out), "--init", "mlperf-vww", "--dp",
            "--noise-multiplier", "1.0", "--epochs", "1", "--batch-size", "20",
            "--train-only", "bn_and_logits", "--no-export"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    history = json.loads((out / "training_history.json").read_text())
    assert history["dp"]["epsilon"] > 0 and history["config"]["trained"] == "bn_and_logits"
    assert history["config"]["init"]["pretrained"] == "mlperf-vww"
    assert (out / "init" / "init_model.keras").is_file()
