"""The host decision rule (host_tools/decision_rule.py): what each kind decides, how a
threshold is chosen, how the rule travels in the manifest and HELLO, and that the grammar
check fails when the two disagree. The firmware side: tests/test_decide_firmware.py."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest

from host_tools.decision_rule import (
    DecisionRule,
    operating_points,
    threshold_for_probability,
    threshold_for_target_fpr,
)
from host_tools.protocol import Hello, encode_record, parse_capture_spans
from peekless.errors import UserError


def outputs_for(scores) -> np.ndarray:
    """int8 outputs [n, 2] with output[1] - output[0] = score (person index 1)."""
    scores = np.asarray(scores)
    other = -(scores // 2)
    return np.stack([other, other + scores], axis=1).astype(np.int8)


def test_argmax_is_the_old_rule_ties_included():
    rng = np.random.default_rng(0)
    out = rng.integers(-128, 128, (500, 2)).astype(np.int8)
    out[:50, 1] = out[:50, 0]  # ties: not a person
    assert np.array_equal(DecisionRule().apply(out), out[:, 1] > out[:, 0])
    flipped = DecisionRule(person_index=0).apply(out)
    assert np.array_equal(flipped, out[:, 0] > out[:, 1])


def test_threshold_k_of_n_and_hysteresis_decide_frame_by_frame():
    scores = [-50, 20, 5, 25, 30, -10, 12, 12, 0, 40, -100, 9]
    out = outputs_for(scores)
    assert np.array_equal(DecisionRule().scores(out), scores)
    hits = [s >= 10 for s in scores]
    assert DecisionRule("threshold", threshold=10).apply(out).tolist() == hits
    # 2 of the last 3 hits; frames before the first are misses.
    want = [sum(hits[max(0, i - 2) : i + 1]) >= 2 for i in range(len(hits))]
    assert DecisionRule("k_of_n", threshold=10, k=2, n=3).apply(out).tolist() == want
    assert want != hits
    # On at >= 20, stays on while >= 0.
    on, want = False, []
    for s in scores:
        on = s >= (0 if on else 20)
        want.append(on)
    got = DecisionRule("hysteresis", threshold=20, threshold_low=0).apply(out).tolist()
    assert got == want == [False, True, True, True, True, False, False, False, False, True,
                           False, False]  # fmt: skip


@pytest.mark.parametrize(
    "rule",
    [DecisionRule(), DecisionRule("threshold", threshold=-20),
     DecisionRule("k_of_n", threshold=5, k=3, n=4),
     DecisionRule("hysteresis", threshold=30, threshold_low=-30)],
)  # fmt: skip
def test_decisions_depend_only_on_the_frame_classes(rule):
    """Swapping frames of the same class anywhere leaves every decision as it was: the
    differential audit's pairing for stateful rules."""
    rng = np.random.default_rng(1)
    out = rng.integers(-128, 128, (400, 2)).astype(np.int8)
    classes = rule.frame_classes(out)
    assert set(classes.tolist()) == ({0, 1, 2} if rule.kind == "hysteresis" else {0, 1})
    swapped = out.copy()
    for c in np.unique(classes):
        idx = np.flatnonzero(classes == c)
        swapped[idx] = out[rng.permutation(idx)]
    assert np.array_equal(rule.apply(swapped), rule.apply(out))
    assert rule.stateful == (rule.kind in ("k_of_n", "hysteresis"))
    if rule.stateful:  # ...but swapping by decision does not, in general
        d = rule.apply(out)
        by_decision = out.copy()
        for v in (False, True):
            idx = np.flatnonzero(d == v)
            by_decision[idx] = out[rng.permutation(idx)]
        assert not np.array_equal(rule.apply(by_decision), d)


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"kind": "majority"}, "unknown kind"),
        ({"kind": "argmax", "threshold": 5}, "argmax is threshold 1"),
        ({"kind": "threshold", "threshold": 300}, "threshold 300"),
        ({"kind": "k_of_n", "threshold": 1, "k": 4, "n": 3}, "k <= n"),
        ({"kind": "k_of_n", "threshold": 1, "k": 1, "n": 33}, "n <= 32"),
        ({"kind": "k_of_n", "threshold": 1, "k": 1, "n": 1}, "plain threshold"),
        ({"kind": "threshold", "threshold": 4, "k": 1, "n": 2}, "belong to k_of_n"),
        ({"kind": "hysteresis", "threshold": 4, "threshold_low": 9}, "must be below"),
        ({"kind": "threshold", "threshold": 4, "threshold_low": 2}, "belongs to hysteresis"),
        ({"person_index": 2}, "person_index"),
    ],
)
def test_bad_rules_are_refused(fields, match):
    with pytest.raises(ValueError, match=match):
        DecisionRule(**fields)


def test_probability_thresholds_match_the_dequantized_outputs():
    scale = 0.0625
    t = threshold_for_probability(0.8, scale, softmax=False)
    p = lambda s: 1 / (1 + math.exp(-scale * s))
    assert p(t) >= 0.8 > p(t - 1)
    assert threshold_for_probability(0.5, scale, softmax=False) == 0
    # Softmax output, scale 1/256: P(person) - P(other) = score / 256.
    t = threshold_for_probability(0.75, 1 / 256, softmax=True)
    assert t == 128
    assert threshold_for_probability(0.999999, 1e-3, softmax=False) == 256  # clamped: never


def test_target_fpr_picks_the_most_sensitive_threshold_within_it():
    labels = np.array([0] * 10 + [1] * 10)
    scores = np.array([-9, -8, -7, -6, -5, -4, -3, 10, 20, 30] + [0, 5, 11, 15, 21, 25, 31, 35, 40, 50])
    points = operating_points(labels, scores)
    assert points[0] == [-9, 1.0, 1.0] and points[-1] == [51, 0.0, 0.0]
    t, fpr, tpr = threshold_for_target_fpr(points, 0.2)  # 2 of 10 negatives may pass
    assert (t, fpr, tpr) == (11, 0.2, 0.8)
    hits = scores >= t
    assert hits[labels == 0].mean() <= 0.2 and hits[labels == 1].mean() == tpr
    assert threshold_for_target_fpr(points, 0.0)[0] == 31


def test_rule_round_trips_through_manifest_and_hello():
    rule = DecisionRule("k_of_n", threshold=-7, k=2, n=5, chosen_from={"target_fpr": 0.01})
    manifest = {"decision_rule": rule.to_manifest()}
    assert json.loads(json.dumps(manifest))["decision_rule"]["chosen_from"] == {"target_fpr": 0.01}
    assert DecisionRule.from_manifest(manifest) == rule
    assert DecisionRule.from_manifest({}) == DecisionRule()  # older manifests: argmax
    hello = Hello(2, 1, 0, 1, "0.1.0", "an386", bytes(32), 2, **rule.hello_fields())
    assert DecisionRule.from_hello(parse_capture_spans(encode_record(hello))[0].item) == rule


def test_grammar_fails_when_hello_and_manifest_state_different_rules():
    from host_tools.audit.grammar import check_grammar

    sha = bytes(range(32))
    manifest = {"board": "an386", "model_sha256": sha.hex(),
                "decision_rule": DecisionRule("threshold", threshold=12).to_manifest()}  # fmt: skip
    for rule, ok in ((DecisionRule("threshold", threshold=12), True),
                     (DecisionRule("threshold", threshold=13), False),
                     (DecisionRule(), False)):  # fmt: skip
        kind = ["argmax", "threshold", "k_of_n", "hysteresis"].index(rule.kind)
        capture = encode_record(Hello(2, 1, 0, 1, "0.1.0", "an386", sha, kind, **rule.hello_fields()))
        result = check_grammar(parse_capture_spans(capture), len(capture), manifest)
        assert result.passed is ok, result
        if not ok:
            assert "decision_rule: HELLO says" in str(result.to_json())
    v1 = encode_record(Hello(1, 1, 0, 1, "0.1.0", "an386", sha))  # argmax, stated by omission
    assert check_grammar(parse_capture_spans(v1), len(v1), {"decision_rule": None}).passed


def _args(**kw) -> argparse.Namespace:
    base = {"threshold": None, "target_fpr": None, "card": None, "tflite": None, "k_of_n": None,
                "hysteresis_low": None}  # fmt: skip
    return argparse.Namespace(**(base | kw))


def test_choose_rule_from_a_card_and_its_mistakes(tmp_path):
    from host_tools.rule_choice import choose_rule

    points = operating_points(np.array([0, 0, 0, 0, 1, 1, 1, 1]), np.array([-30, -5, 3, 40, 2, 20, 50, 60]))
    card = tmp_path / "model_card.json"
    block = {"split": "val", "frames": 8, "positives": 4, "negatives": 4, "tflite_sha256": "ab" * 32,
             "output_scale": 0.1, "output_zero_point": 0, "softmax": False, "points": points}  # fmt: skip
    card.write_text(json.dumps({"operating_points": block}))
    rule = choose_rule(_args(target_fpr=0.25, card=card, k_of_n="2/3"), model_sha256="ab" * 32)
    assert (rule.kind, rule.threshold, rule.k, rule.n) == ("k_of_n", 20, 2, 3)
    assert rule.chosen_from["fpr"] == 0.25 and rule.chosen_from["tpr"] == 0.75
    rule = choose_rule(_args(threshold=0.9, card=card, hysteresis_low=0.6))
    assert rule.kind == "hysteresis"
    assert rule.threshold == math.ceil(math.log(9) / 0.1) and rule.threshold_low == math.ceil(
        math.log(1.5) / 0.1)
    assert choose_rule(_args()) == DecisionRule()

    for args, match in (
        (_args(target_fpr=0.1), "give --card"),
        (_args(threshold=0.7), "output quantization"),
        (_args(threshold=1.5, card=card), "between 0 and 1"),
        (_args(k_of_n="2/3"), "debounce a threshold"),
        (_args(threshold=0.7, card=card, k_of_n="two"), "K/N"),
        (_args(threshold=0.7, card=card, k_of_n="4/3"), "k <= n"),
        (_args(threshold=0.7, card=tmp_path / "none.json"), "no such file"),
    ):
        with pytest.raises(UserError, match=match):
            choose_rule(args, model_sha256="ab" * 32)
    with pytest.raises(UserError, match="is for model abab"):
        choose_rule(_args(target_fpr=0.1, card=card), model_sha256="cd" * 32)
