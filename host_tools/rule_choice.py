"""A decision rule from what the user asks for: ``--threshold P`` (a person probability) or
``--target-fpr F`` (read off a validation ROC), optionally debounced with
``--k-of-n K/N`` or ``--hysteresis-low P``. Shared by `peekless firmware` and
`peekless evaluate`; see host_tools/decision_rule.py for what the rule computes.

The model's output quantization comes from its ``.tflite`` or from an operating-points
block (``model_card.json`` / an evaluate report, training/operating_points.py); either
must belong to the model being built (same sha256)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from host_tools.decision_rule import (
    DecisionRule,
    threshold_for_probability,
    threshold_for_target_fpr,
)
from peekless.errors import UserError


def add_rule_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("decision rule (default: argmax; docs/PROTOCOL.md, pk_decide.h)")
    how = g.add_mutually_exclusive_group()
    how.add_argument("--threshold", type=float, metavar="P",
                     help="person when the model's person probability is at least P (0 < P < 1)")
    how.add_argument("--target-fpr", type=float, metavar="F",
                     help="the most sensitive threshold whose false-positive rate on the "
                          "card's validation split is at most F (needs --card)")  # fmt: skip
    g.add_argument("--card", type=Path, default=None,
                   help="model_card.json (or a `peekless evaluate` report.json) with operating points")
    g.add_argument("--tflite", type=Path, default=None,
                   help="the model's .tflite (its output quantization turns P into a score)")
    deb = g.add_mutually_exclusive_group()
    deb.add_argument("--k-of-n", metavar="K/N", default=None,
                     help="person when at least K of the last N frames pass the threshold")
    deb.add_argument("--hysteresis-low", type=float, metavar="P", default=None,
                     help="once on, stay on while the person probability is at least P")


def _facts(tflite: Path | None, card: Path | None, model_sha256: str | None) -> tuple[dict, dict | None]:
    """(output facts, operating-points block or None), checked against the model."""
    block = None
    if card is not None:
        if not card.is_file():
            raise UserError(f"{card}: no such file", "give the model's model_card.json")
        try:
            block = json.loads(card.read_text()).get("operating_points")
        except (json.JSONDecodeError, AttributeError) as exc:
            raise UserError(f"{card}: not a model card or evaluate report ({exc})") from None
        if not block:
            raise UserError(f"{card}: no operating_points",
                            "write the card with a validation split and an int8 model")  # fmt: skip
    if tflite is not None:
        if not tflite.is_file():
            raise UserError(f"{tflite}: no such file", "give the model's .tflite")
        from training.operating_points import int8_output_facts

        facts = int8_output_facts(tflite)
    elif block is not None:
        facts = block
    else:
        raise UserError("a probability needs the model's output quantization",
                        "give --tflite MODEL.tflite or --card model_card.json")  # fmt: skip
    checks = [("tflite", tflite, facts.get("tflite_sha256") if tflite else None),
              ("card", card, (block or {}).get("tflite_sha256"))]  # fmt: skip
    for name, source, sha in checks:
        if source is not None and model_sha256 and sha and sha != model_sha256:
            raise UserError(f"{source} is for model {sha[:12]}..., this build is {model_sha256[:12]}...",
                            f"give the {name} of the model being built")  # fmt: skip
    return facts, block


def _k_of_n(text: str) -> tuple[int, int]:
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise UserError(f"--k-of-n {text!r}", "write it as K/N, e.g. 2/3") from None
    return k, n


def choose_rule(args: argparse.Namespace, model_sha256: str | None = None,
                person_index: int = 1) -> DecisionRule:  # fmt: skip
    """The rule ``add_rule_options``' options ask for (argmax when none is given)."""
    threshold_p, target = args.threshold, args.target_fpr
    if threshold_p is None and target is None:
        if args.k_of_n or args.hysteresis_low is not None:
            raise UserError("--k-of-n / --hysteresis-low debounce a threshold",
                            "give --threshold P or --target-fpr F too")  # fmt: skip
        return DecisionRule(person_index=person_index)
    if target is not None and args.card is None:
        raise UserError("--target-fpr reads the validation ROC of a model card", "give --card")
    facts, block = _facts(args.tflite, args.card, model_sha256)
    scale, softmax = float(facts["output_scale"]), bool(facts["softmax"])
    if threshold_p is not None:
        if not 0.0 < threshold_p < 1.0:
            raise UserError(f"--threshold {threshold_p}", "a probability, between 0 and 1")
        threshold = threshold_for_probability(threshold_p, scale, softmax)
        chosen = {"probability": threshold_p, "output_scale": scale, "softmax": softmax}
    else:
        if not 0.0 <= target <= 1.0:
            raise UserError(f"--target-fpr {target}", "a rate, between 0 and 1")
        threshold, fpr, tpr = threshold_for_target_fpr(block["points"], target)
        chosen = {"target_fpr": target, "split": block["split"], "frames": block["frames"],
                  "negatives": block["negatives"], "positives": block["positives"],
                  "fpr": fpr, "tpr": tpr, "tflite_sha256": block.get("tflite_sha256")}  # fmt: skip
    fields: dict = {"kind": "threshold", "threshold": threshold}
    if args.k_of_n:
        k, n = _k_of_n(args.k_of_n)
        fields.update(kind="k_of_n", k=k, n=n)
    elif args.hysteresis_low is not None:
        if not 0.0 < args.hysteresis_low < 1.0:
            raise UserError(f"--hysteresis-low {args.hysteresis_low}", "a probability, 0 to 1")
        low = threshold_for_probability(args.hysteresis_low, scale, softmax)
        fields.update(kind="hysteresis", threshold_low=low)
        chosen["hysteresis_low_probability"] = args.hysteresis_low
    try:
        return DecisionRule(person_index=person_index, chosen_from=chosen, **fields)
    except ValueError as exc:
        raise UserError(str(exc)) from None
