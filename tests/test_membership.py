"""The membership-inference audit: ROC arithmetic by hand, and the attacks on a model that
memorised its training images versus models that cannot have."""

from __future__ import annotations

import json

import numpy as np
import pytest

from training.membership import (
    attack_metrics,
    attack_scores,
    audit_membership,
    dp_advantage_bound,
    roc_auc,
    roc_curve,
)


def test_roc_curve_and_auc_match_a_hand_computed_example():
    # Members 0.9, 0.8, 0.4 and non-members 0.7, 0.3, 0.2: of the 9 (member, non-member)
    # pairs the member scores higher in 8, so the AUC is 8/9.
    fpr, tpr = roc_curve([0.9, 0.8, 0.4], [0.7, 0.3, 0.2])
    third = 1 / 3
    assert fpr.tolist() == pytest.approx([0, 0, 0, third, third, 2 * third, 1])
    assert tpr.tolist() == pytest.approx([0, third, 2 * third, 2 * third, 1, 1, 1])
    assert roc_auc(fpr, tpr) == pytest.approx(8 / 9)
    m = attack_metrics([0.9, 0.8, 0.4], [0.7, 0.3, 0.2])
    assert m["auc"] == pytest.approx(8 / 9)
    assert m["advantage"] == pytest.approx(2 / 3)  # threshold 0.4: TPR 1, FPR 1/3
    assert m["tpr_at_1pct_fpr"] == pytest.approx(2 / 3)  # threshold 0.8: no false positive


def test_ties_are_one_point_and_count_half():
    fpr, tpr = roc_curve([1.0, 0.5], [0.5, 0.0])
    assert fpr.tolist() == pytest.approx([0, 0, 0.5, 1])  # the tie at 0.5 is one step
    assert tpr.tolist() == pytest.approx([0, 0.5, 1, 1])
    # pairs: (1 > .5), (1 > 0), (.5 = .5 -> half), (.5 > 0): 3.5 / 4
    assert roc_auc(fpr, tpr) == pytest.approx(3.5 / 4)
    same = attack_metrics([0.3] * 5, [0.3] * 7)
    assert same["auc"] == pytest.approx(0.5) and same["advantage"] == 0.0
    assert same["tpr_at_1pct_fpr"] == 0.0


def test_auc_is_the_mann_whitney_probability_on_random_scores():
    rng = np.random.default_rng(0)
    pos, neg = rng.integers(0, 20, 300), rng.integers(0, 20, 200)  # many ties
    greater = (pos[:, None] > neg[None, :]).mean()
    equal = (pos[:, None] == neg[None, :]).mean()
    assert attack_metrics(pos, neg)["auc"] == pytest.approx(greater + equal / 2)
    assert attack_metrics(neg, pos)["auc"] == pytest.approx(1 - greater - equal / 2)


def test_roc_is_thinned_to_200_points_with_its_ends():
    rng = np.random.default_rng(1)
    m = attack_metrics(rng.normal(0.5, 1, 1000), rng.normal(0, 1, 1000))
    fpr, tpr = m["roc"]["fpr"], m["roc"]["tpr"]
    assert len(fpr) == len(tpr) <= 200
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert 0.6 < m["auc"] < 0.7  # separation 0.5 sigma: AUC = Phi(0.5 / sqrt 2) = 0.638


def test_scores_are_minus_loss_and_top_probability():
    logits = np.array([[2.0, 0.0], [0.0, 0.0]])
    s = attack_scores(logits, np.array([1, 0]))
    assert s["loss"] == pytest.approx([-np.log1p(np.exp(2.0)), np.log(0.5)])
    assert s["confidence"] == pytest.approx([np.exp(2) / (1 + np.exp(2)), 0.5])


def test_dp_advantage_bound():
    assert dp_advantage_bound(0.0, 0.0) == 0.0
    assert dp_advantage_bound(1.0, 0.0) == pytest.approx((np.e - 1) / (np.e + 1))
    assert dp_advantage_bound(1000.0, 1e-5) == 1.0


@pytest.fixture(scope="module")
def memorised(tmp_path_factory):
    """A small dense model fitted to 48 images (true labels) until it memorises them, on a
    48x48 synthetic set; and a second dataset it never saw."""
    import keras

    from training.ingest import load_split
    from training.preprocess import to_float_input
    from training.synthetic import build_dataset

    root = tmp_path_factory.mktemp("mia")
    seen = build_dataset(root / "seen", n=240, seed=1, size=48, val_fraction=0.1,
                         test_fraction=0.7)  # fmt: skip
    other = build_dataset(root / "other", n=240, seed=2, size=48, val_fraction=0.1,
                          test_fraction=0.45)  # fmt: skip
    x, y = load_split(seen, "train")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((48, 48, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(2),
    ])  # fmt: skip
    model.compile(
        keras.optimizers.Adam(1e-3),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(to_float_input(x), y, batch_size=16, epochs=150, verbose=0)
    path = root / "memorised.keras"
    model.save(path)
    return path, seen, other


def test_a_memorising_model_is_exposed(memorised):
    path, seen, _ = memorised
    result = audit_membership(path, seen, members="train", nonmembers="test", seed=3)
    json.dumps(result)  # JSON-serialisable as it is
    assert result["members"] == result["nonmembers"] == 48  # the smaller side, balanced
    assert result["member_accuracy"] == 1.0
    loss, conf = result["attacks"]["loss"], result["attacks"]["confidence"]
    assert loss["auc"] > 0.8 and loss["advantage"] > 0.4, loss
    assert conf["auc"] > 0.6, conf
    assert set(loss) == {"auc", "advantage", "tpr_at_1pct_fpr", "roc"}
    assert len(loss["roc"]["fpr"]) <= 200


def test_a_model_that_never_saw_either_side_is_not(memorised):
    # Same model, but both sides come from a dataset it was not trained on: members and
    # non-members are exchangeable, so the attacks can only guess.
    path, _, other = memorised
    result = audit_membership(path, other, members="train", nonmembers="test", seed=0)
    assert result["members"] >= 100
    for name, attack in result["attacks"].items():
        assert abs(attack["auc"] - 0.5) < 0.12, (name, attack["auc"])


def test_given_subsets_and_int8_models_are_audited(memorised, tmp_path):
    from training.ingest import load_split
    from training.quantize import quantize

    path, seen, _ = memorised
    images, labels = load_split(seen, "train")
    subset = (images[:20], labels[:20])
    result = audit_membership(path, seen, members=subset, nonmembers="test", max_examples=15)
    assert result["members"] == result["nonmembers"] == 15
    assert result["members_source"] == "given"

    tflite = quantize(path, seen, tmp_path / "memorised.tflite", calibration_count=20)
    int8 = audit_membership(tflite, seen, members="train", nonmembers="test", seed=3)
    assert int8["format"] == "int8 tflite"
    assert int8["attacks"]["loss"]["auc"] > 0.75
