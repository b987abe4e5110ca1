"""Membership-inference audit: can an attacker tell training images from unseen ones?

Two black-box attacks, each a threshold on one number per image, computed from the
model's outputs:

- **loss**: the cross-entropy of the true label (Yeom et al., 2018). Models fit their
  training images better, so a *low* loss says "member". Needs the label.
- **confidence**: the largest softmax probability (Salem et al., 2019). Needs no label.

The audit takes as many members (the train split, or given images) as non-members (a
held-out split of the same distribution), subsampled with a seed to the same count, and
sweeps the threshold. Per attack it reports the ROC curve, its area (AUC: 0.5 is
guessing, 1.0 tells every image apart), the attacker's advantage ``max(TPR - FPR)`` (the
most by which any threshold beats guessing; the figure that a DP guarantee bounds by
``(e^epsilon - 1 + 2 delta) / (e^epsilon + 1)``), and the TPR at 1 % FPR (Carlini et al.,
2022: how many members are exposed with few false accusations).

Ties (common with int8 outputs) are one ROC point each, so the AUC equals the
Mann-Whitney probability that a random member scores above a random non-member, ties
counting half. All ROC arithmetic is numpy.

These attacks are a lower bound on leakage: a stronger attack (shadow models, LiRA) may
find more. A model that passes this audit is not thereby private; a model trained with
``training/dp.py`` is private by its epsilon whatever the audit finds.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from training.ingest import load_split
from training.preprocess import to_model_input

ATTACKS = ("loss", "confidence")
MAX_ROC_POINTS = 200
LOW_FPR = 0.01


# ----------------------------------------------------------------------------- ROC maths


def roc_curve(member_scores, nonmember_scores) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) of the rule "member iff score >= threshold", for every threshold from
    above the highest score down to the lowest: one point per distinct score, starting at
    (0, 0) and ending at (1, 1). Higher scores must mean "more likely a member"."""
    pos = np.asarray(member_scores, dtype=np.float64).ravel()
    neg = np.asarray(nonmember_scores, dtype=np.float64).ravel()
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("need at least one member and one non-member score")
    if np.isnan(pos).any() or np.isnan(neg).any():
        raise ValueError("scores contain NaN")
    scores = np.concatenate([pos, neg])
    is_member = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    order = np.argsort(-scores, kind="stable")
    scores, is_member = scores[order], is_member[order]
    # The last position of each run of equal scores: a threshold admits all of a tie or none.
    ends = np.r_[np.flatnonzero(scores[1:] != scores[:-1]), len(scores) - 1]
    tp = np.cumsum(is_member)[ends]
    fp = np.cumsum(1.0 - is_member)[ends]
    return np.r_[0.0, fp / len(neg)], np.r_[0.0, tp / len(pos)]


def roc_auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Area under the ROC curve by the trapezoidal rule."""
    fpr, tpr = np.asarray(fpr, dtype=np.float64), np.asarray(tpr, dtype=np.float64)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def attack_metrics(member_scores, nonmember_scores, max_points: int = MAX_ROC_POINTS) -> dict:
    """AUC, advantage ``max(TPR - FPR)``, TPR at 1 % FPR (the best TPR among thresholds
    whose FPR is at most 1 %, no interpolation) and the ROC curve thinned to at most
    ``max_points`` points (first and last kept) for plotting."""
    fpr, tpr = roc_curve(member_scores, nonmember_scores)
    keep = np.unique(np.round(np.linspace(0, len(fpr) - 1, min(len(fpr), max_points))))
    keep = keep.astype(np.int64)
    return {
        "auc": roc_auc(fpr, tpr),
        "advantage": float(np.max(tpr - fpr)),
        "tpr_at_1pct_fpr": float(np.max(tpr[fpr <= LOW_FPR])),
        "roc": {"fpr": [float(v) for v in fpr[keep]], "tpr": [float(v) for v in tpr[keep]]},
    }


def dp_advantage_bound(epsilon: float, delta: float) -> float:
    """The most membership advantage an (epsilon, delta)-DP model allows any attacker:
    ``(e^epsilon - 1 + 2 delta) / (e^epsilon + 1)`` (Humphries et al., 2023; Kairouz et
    al., 2015), capped at 1."""
    if epsilon > 700:
        return 1.0
    e = np.exp(epsilon)
    return float(min(1.0, (e - 1.0 + 2.0 * delta) / (e + 1.0)))


# ------------------------------------------------------------------------- model outputs


def model_logits(model_path: Path, pixels: np.ndarray) -> np.ndarray:
    """Float logits [N, classes] of a Keras model (.keras, on ``pixels / 255``) or of an
    int8 .tflite (reference kernels on ``pixel - 128``, outputs dequantised)."""
    model_path = Path(model_path)
    if model_path.suffix == ".tflite":
        from training.reference import litert_reference, reference_interpreter

        (out,) = reference_interpreter(model_path).get_output_details()
        raw = litert_reference(model_path, to_model_input(pixels)).astype(np.float64)
        scale, zero_point = out["quantization"]
        if out["dtype"] in (np.int8, np.uint8) and scale > 0:
            return (raw - zero_point) * scale
        return raw
    from training.train import predict_keras

    return np.asarray(predict_keras(model_path, pixels), dtype=np.float64)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def attack_scores(logits: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image membership scores (higher = more likely a member) for each attack:
    ``loss`` is minus the cross-entropy of the label, ``confidence`` the top probability."""
    logp = _log_softmax(np.asarray(logits, dtype=np.float64))
    labels = np.asarray(labels).astype(np.int64)
    return {
        "loss": logp[np.arange(len(labels)), labels],
        "confidence": np.exp(logp.max(axis=1)),
    }


# ---------------------------------------------------------------------------------- audit


def _resolve(manifest_path: Path | None, which) -> tuple[np.ndarray, np.ndarray, str]:
    if isinstance(which, str):
        if manifest_path is None:
            raise ValueError(f"split {which!r} needs a manifest")
        images, labels = load_split(manifest_path, which)
        return images, labels, which
    images, labels = which
    return np.asarray(images), np.asarray(labels), "given"


def audit_membership(
    model_path: Path,
    manifest_path: Path | None,
    members="train",
    nonmembers="test",
    max_examples: int = 2000,
    seed: int = 0,
) -> dict:
    """Run the loss and confidence attacks on a .keras or int8 .tflite model.

    members / nonmembers: a split name of the manifest, or ``(uint8 images, labels)``.
    Both sides are subsampled without replacement (generator seeded by ``seed``) to
    ``min(len(members), len(nonmembers), max_examples)`` images each.

    Returns a JSON-serialisable dict: ``attacks`` ({"loss": {...}, "confidence": {...}},
    each with auc, advantage, tpr_at_1pct_fpr and roc {fpr, tpr} of at most 200 points),
    ``members`` and ``nonmembers`` (the counts), the accuracy and mean loss on each side,
    and what was audited.
    """
    model_path = Path(model_path)
    m_images, m_labels, m_name = _resolve(manifest_path, members)
    n_images, n_labels, n_name = _resolve(manifest_path, nonmembers)
    n = min(len(m_images), len(n_images), int(max_examples))
    if n < 1:
        raise ValueError(f"need members and non-members: have {len(m_images)} and {len(n_images)}")
    rng = np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(0x31A,)))
    m_pick = np.sort(rng.permutation(len(m_images))[:n])
    n_pick = np.sort(rng.permutation(len(n_images))[:n])
    pixels = np.concatenate([m_images[m_pick], n_images[n_pick]])
    labels = np.concatenate([m_labels[m_pick], n_labels[n_pick]]).astype(np.int64)

    logits = model_logits(model_path, pixels)
    scores = attack_scores(logits, labels)
    correct = logits.argmax(axis=1) == labels
    loss = -scores["loss"]
    return {
        "model": model_path.name,
        "model_sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
        "format": "int8 tflite" if model_path.suffix == ".tflite" else "keras float",
        "members_source": m_name,
        "nonmembers_source": n_name,
        "members": int(n),
        "nonmembers": int(n),
        "seed": int(seed),
        "member_accuracy": float(correct[:n].mean()),
        "nonmember_accuracy": float(correct[n:].mean()),
        "member_mean_loss": float(loss[:n].mean()),
        "nonmember_mean_loss": float(loss[n:].mean()),
        "attacks": {name: attack_metrics(scores[name][:n], scores[name][n:]) for name in ATTACKS},
    }


def summary(result: dict) -> str:
    """One line per attack: AUC, advantage and TPR at 1 % FPR."""
    head = (
        f"{result['model']} ({result['format']}): {result['members']} members "
        f"({result['members_source']}, accuracy {result['member_accuracy']:.3f}) vs "
        f"{result['nonmembers']} non-members ({result['nonmembers_source']}, accuracy "
        f"{result['nonmember_accuracy']:.3f})"
    )
    lines = [head]
    for name, a in result["attacks"].items():
        lines.append(
            f"  {name:<10} AUC {a['auc']:.3f}  advantage {a['advantage']:.3f}  "
            f"TPR@1%FPR {a['tpr_at_1pct_fpr']:.3f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help=".keras or int8 .tflite")
    p.add_argument("manifest", type=Path)
    p.add_argument("--members", default="train")
    p.add_argument("--nonmembers", default="test")
    p.add_argument("--max-examples", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="write the full result (with ROC curves) as JSON")
    a = p.parse_args(argv)
    result = audit_membership(a.model, a.manifest, a.members, a.nonmembers, a.max_examples, a.seed)
    print(summary(result))
    if a.out:
        a.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
