"""Model cards: metrics, what the card records, DP and membership sections, the CLI."""

from __future__ import annotations

import json
import shutil
import sys
import types

import numpy as np
import pytest

PNG = b"\x89PNG\r\n\x1a\n"


def test_roc_auc_is_the_pairwise_win_rate_with_ties_as_halves():
    from training.model_card import roc_auc, roc_curve

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300)
    scores = rng.integers(0, 12, 300) + labels * 2  # many ties
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert roc_auc(labels, scores) == pytest.approx(wins / (len(pos) * len(neg)))
    fpr, tpr = roc_curve(labels, scores)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([1, 1], [0.1, 0.2])


def test_confusion_matrix_rows_are_true_classes():
    from training.model_card import confusion_matrix

    assert confusion_matrix([0, 0, 0, 1, 1], [0, 1, 1, 1, 0]) == [[1, 2], [1, 1]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny dataset, two epochs of training, then what `peekless train` does after it."""
    from training.model_card import export_and_card
    from training.synthetic import build_dataset
    from training.train import train

    root = tmp_path_factory.mktemp("card")
    manifest = build_dataset(root / "data", n=160, seed=5, size=64)
    train(manifest, root / "model", epochs=2, batch_size=16, seed=1, verbose=False)
    result = export_and_card(root / "model", manifest, membership=False)
    return manifest, root / "model", result


@pytest.mark.slow
def test_card_records_data_recipe_metrics_agreement_and_size(exported):
    import keras

    from training.ingest import load_split, manifest_sha256
    from training.model_card import keras_macs

    manifest, model_dir, result = exported
    card = json.loads((model_dir / "model_card.json").read_text())
    assert card == json.loads(json.dumps(result["card"]))
    assert card["dataset"]["manifest_sha256"] == manifest_sha256(manifest)
    assert card["dataset"]["same_manifest"] is True and card["dataset"]["stale"] is False
    hyper = card["training"]["hyperparameters"]
    assert (hyper["recipe"], hyper["arch"], hyper["epochs"], hyper["batch_size"]) == (
        "doorbell", "doorbell_mobilenet", 2, 16,
    )  # fmt: skip
    assert hyper["schedule"].startswith("cosine") and hyper["augmentation"]

    ev = card["evaluation"]
    _, labels = load_split(manifest, "test")
    for kind in ("float", "int8"):
        m = ev[kind]
        assert np.sum(m["confusion_matrix"]) == len(labels) == ev["images"]
        (tn, _), (_, tp) = m["confusion_matrix"]
        assert m["accuracy"] == pytest.approx((tn + tp) / len(labels))
        assert 0.0 <= m["roc_auc"] <= 1.0
    assert ev["float_int8_agreement"] == pytest.approx(result["quantize_report"]["agreement"])
    assert ev["int8"]["accuracy"] == pytest.approx(result["quantize_report"]["int8_accuracy"])

    model = keras.models.load_model(model_dir / "model.keras")
    size = card["size"]
    assert size["parameters"] == model.count_params()
    assert size["tflite_bytes"] == (model_dir / "model_int8.tflite").stat().st_size
    assert size["macs"] == keras_macs(model) > 0  # the compiler's count, checked against Keras'
    assert size["macs_source"].startswith("Peekless compiler") and size["arena_bytes"] > 0

    assert card["privacy"]["differential_privacy"] == {"used": False}
    assert card["privacy"]["membership_inference"]["status"] == "not run"
    assert card["quantization"]["quantization_aware_training"].startswith("no: ")
    for name in ("training_curves", "roc", "confusion_matrix"):
        assert (model_dir / card["plots"][name]).read_bytes().startswith(PNG)
    text = (model_dir / "MODEL_CARD.md").read_text()
    assert card["dataset"]["manifest_sha256"] in text
    assert "synthetic" in text and "Membership inference: not run" in text
    assert "| float | person |" in text


def _fake_membership(calls: list) -> types.ModuleType:
    def audit_membership(model_path, manifest_path, members="train", nonmembers="test",
                         max_examples=2000, seed=0):  # fmt: skip
        calls.append((model_path, members, nonmembers, max_examples, seed))
        roc = {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.6, 1.0]}
        attack = {"auc": 0.55, "advantage": 0.1, "tpr_at_1pct_fpr": 0.02, "roc": roc}
        return {"attacks": {"loss": attack, "confidence": dict(attack, auc=0.53)},
                "members": 100, "nonmembers": 40}  # fmt: skip

    module = types.ModuleType("training.membership")
    module.audit_membership = audit_membership
    return module


@pytest.mark.slow
def test_card_reports_dp_epsilon_and_the_membership_audit(exported, tmp_path, monkeypatch):
    from training.model_card import write_model_card

    manifest, model_dir, _ = exported
    copy = tmp_path / "dp-model"
    shutil.copytree(model_dir, copy)
    history = json.loads((copy / "training_history.json").read_text())
    history["dp"] = {"epsilon": 2.97, "delta": 1e-5, "noise_multiplier": 1.1, "l2_clip": 1.0,
                     "sampling_rate": 0.13, "steps": 16, "accountant": "RDP"}  # fmt: skip
    (copy / "training_history.json").write_text(json.dumps(history))
    calls = []
    monkeypatch.setitem(sys.modules, "training.membership", _fake_membership(calls))

    card = write_model_card(copy, manifest, seed=3)
    dp = card["privacy"]["differential_privacy"]
    assert dp["used"] is True and dp["epsilon"] == 2.97 and dp["delta"] == 1e-5
    mi = card["privacy"]["membership_inference"]
    assert mi["status"] == "run" and mi["attacks"]["loss"]["auc"] == 0.55
    assert calls == [(copy / "model.keras", "train", "test", 2000, 3)]
    text = (copy / "MODEL_CARD.md").read_text()
    assert "epsilon 2.970 at delta 1e-05" in text and "loss attack: AUC 0.550" in text
    assert not any("without differential privacy" in n for n in card["limitations"])

    monkeypatch.setitem(sys.modules, "training.membership", None)  # import fails
    mi = write_model_card(copy, manifest)["privacy"]["membership_inference"]
    assert mi["status"] == "not run" and "not available" in mi["reason"]


@pytest.mark.slow
def test_model_card_and_membership_audit_commands(exported, tmp_path, monkeypatch, capsys):
    from peekless.cli import main

    manifest, model_dir, _ = exported
    copy = tmp_path / "m"
    shutil.copytree(model_dir, copy)
    (copy / "model_card.json").unlink()
    (copy / "MODEL_CARD.md").unlink()
    assert main(["model-card", str(copy), "--manifest", str(manifest), "--no-membership"]) == 0
    assert (copy / "model_card.json").exists() and (copy / "MODEL_CARD.md").exists()
    assert "float/int8 agreement" in capsys.readouterr().out

    calls = []
    monkeypatch.setitem(sys.modules, "training.membership", _fake_membership(calls))
    out = tmp_path / "audit.json"
    argv = ["membership-audit", str(copy), "--manifest", str(manifest), "--max-examples", "50"]
    assert main([*argv, "--out", str(out)]) == 0
    assert calls == [(copy / "model.keras", "train", "test", 50, 0)]
    assert json.loads(out.read_text())["attacks"]["loss"]["auc"] == 0.55
    assert "loss: AUC 0.5500" in capsys.readouterr().out
