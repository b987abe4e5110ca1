"""Operating points of an int8 model: the facts a decision threshold is chosen from.

An operating-points block (in ``model_card.json`` for the validation split, and in
``peekless evaluate``'s report) lists, for every threshold ``t`` on the int8 score
``output[person] - output[other]`` (host_tools/decision_rule.py), the false-positive and
true-positive rates of "score >= t" on a labelled split, with the model's output
quantization so that a probability can be turned into a score threshold
(``peekless firmware --threshold P`` or ``--target-fpr F --card CARD``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

SCHEMA = "peekless-operating-points/1"


def int8_output_facts(tflite_path: Path) -> dict:
    """sha256, output scale and zero point, and whether the last operator is SOFTMAX."""
    from training.quantize import _interpreter, operator_names

    (out,) = _interpreter(tflite_path).get_output_details()
    scale, zero_point = out["quantization"]
    ops = operator_names(tflite_path)
    return {
        "tflite_sha256": hashlib.sha256(Path(tflite_path).read_bytes()).hexdigest(),
        "output_scale": float(scale),
        "output_zero_point": int(zero_point),
        "softmax": bool(ops and ops[-1] == "SOFTMAX"),
    }


def operating_points_block(facts: dict, labels: np.ndarray, int8_outputs: np.ndarray,
                           split: str, person_index: int = 1) -> dict:  # fmt: skip
    """The block for int8 outputs [N, 2] of a labelled split (both classes needed)."""
    from host_tools.decision_rule import SCORE, DecisionRule, operating_points

    labels = np.asarray(labels)
    scores = DecisionRule(person_index=person_index).scores(int8_outputs)
    return {
        "schema": SCHEMA,
        "split": split,
        "frames": len(labels),
        "positives": int(np.sum(labels == 1)),
        "negatives": int(np.sum(labels == 0)),
        **facts,
        "person_index": person_index,
        "score": SCORE,
        "points": operating_points(labels, scores),
    }


def split_operating_points(tflite_path: Path, manifest_path: Path, split: str = "val") -> dict | None:
    """The block for one split of a dataset manifest; None when the split is missing,
    empty or has only one class (no false-positive rate to read off)."""
    from training.ingest import load_manifest, load_split
    from training.preprocess import to_model_input
    from training.quantize import litert_predict

    if split not in load_manifest(manifest_path).get("files", {}):
        return None
    images, labels = load_split(manifest_path, split)
    if len(set(np.asarray(labels).tolist())) < 2:
        return None
    outputs = litert_predict(tflite_path, to_model_input(images))
    return operating_points_block(int8_output_facts(tflite_path), labels, outputs, split)
