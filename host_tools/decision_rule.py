"""The device's decision rule, applied on the host exactly as the firmware applies it.

The audit and `peekless evaluate` compare every device decision with
``DecisionRule.from_manifest(build_manifest).apply(reference_outputs)``, where
``reference_outputs`` are LiteRT's (BUILTIN_REF) int8 outputs for the frames in the
order the device saw them. The rule is stateful over that order (debouncing), so it is
applied to a whole sequence, never to one frame alone.

The score of a frame is ``s = out[person] - out[other]`` on the int8 outputs (-255..255):
one output scale for both, so ``s`` orders frames as the dequantized difference does (the
person logit minus the other, or for a softmax output the difference of probabilities).
A frame is a *hit* when ``s >= threshold``. Kinds (firmware/app/pk_decide.h runs all of
them as one branch-free formula, so its instructions never depend on the scores):

- ``argmax``: person when the person output is strictly the larger: threshold 1. What
  build manifests without a ``decision_rule`` field mean.
- ``threshold``: person on a hit.
- ``k_of_n``: person when at least ``k`` of the last ``n`` frames (this one included) were
  hits; frames before the first count as misses.
- ``hysteresis``: person turns on at ``s >= threshold`` and stays on while
  ``s >= threshold_low`` (``threshold_low <= threshold``); off before the first frame.

The output stays one bit per frame whatever the kind; debouncing only decides which bit.
``threshold`` comes from a probability (``threshold_for_probability``) or from a target
false-positive rate on a validation ROC (``threshold_for_target_fpr``); ``chosen_from``
records how, and is not part of the rule the device runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

KINDS = ("argmax", "threshold", "k_of_n", "hysteresis")  # index = the HELLO's rule_kind
MAX_N = 32  # the firmware keeps the last n hits in one 32-bit word
SCORE_RANGE = (-255, 255)
# Thresholds outside this range are "always" / "never" and stay representable in i16.
THRESHOLD_RANGE = (-256, 256)
SCORE = "int8 output[person] - output[other]"


@dataclass(frozen=True)
class DecisionRule:
    kind: str = "argmax"
    person_index: int = 1
    threshold: int = 1
    threshold_low: int | None = None  # hysteresis only; None means = threshold
    k: int = 1
    n: int = 1
    chosen_from: dict | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        low = self.threshold if self.threshold_low is None else self.threshold_low
        object.__setattr__(self, "threshold_low", low)
        where = f"decision rule {self.kind!r}"
        if self.kind not in KINDS:
            raise ValueError(f"decision rule: unknown kind {self.kind!r}; known: {KINDS}")
        if self.person_index not in (0, 1):
            raise ValueError(f"{where}: person_index must be 0 or 1, not {self.person_index}")
        for name in ("threshold", "threshold_low"):
            value = getattr(self, name)
            if int(value) != value or not THRESHOLD_RANGE[0] <= value <= THRESHOLD_RANGE[1]:
                raise ValueError(f"{where}: {name} {value} is not an integer in {THRESHOLD_RANGE}")
        if not (1 <= self.k <= self.n <= MAX_N):
            raise ValueError(f"{where}: want 1 <= k <= n <= {MAX_N}, got k={self.k}, n={self.n}")
        if self.kind == "argmax" and (self.threshold, low, self.k, self.n) != (1, 1, 1, 1):
            raise ValueError(f"{where}: argmax is threshold 1 with no debounce")
        if self.kind != "k_of_n" and (self.k, self.n) != (1, 1):
            raise ValueError(f"{where}: k and n belong to k_of_n")
        if self.kind == "k_of_n" and self.n == 1:
            raise ValueError(f"{where}: n = 1 is the plain threshold rule")
        if self.kind != "hysteresis" and low != self.threshold:
            raise ValueError(f"{where}: threshold_low belongs to hysteresis")
        if self.kind == "hysteresis" and not low < self.threshold:
            raise ValueError(f"{where}: threshold_low ({low}) must be below threshold "
                             f"({self.threshold})")  # fmt: skip

    # --- where rules come from and go to ---------------------------------------------

    @classmethod
    def from_manifest(cls, manifest: dict | None) -> DecisionRule:
        """The rule a build manifest records (argmax when it records none)."""
        rule = (manifest or {}).get("decision_rule") or {}
        kind = rule.get("kind", "argmax")
        fields = {k: rule[k] for k in ("person_index", "threshold", "threshold_low", "k", "n")
                  if rule.get(k) is not None}  # fmt: skip
        return cls(kind=kind, chosen_from=rule.get("chosen_from"), **fields)

    def to_manifest(self) -> dict:
        out = {"kind": self.kind, "score": SCORE, **self.hello_fields()}
        if self.chosen_from is not None:
            out["chosen_from"] = self.chosen_from
        return out

    def hello_fields(self) -> dict:
        """What the device states in its HELLO besides the kind (docs/PROTOCOL.md)."""
        return {
            "person_index": self.person_index,
            "threshold": self.threshold,
            "threshold_low": self.threshold_low,
            "k": self.k,
            "n": self.n,
        }

    @classmethod
    def from_hello(cls, hello) -> DecisionRule:
        """The rule a HELLO states (a version 1 HELLO states none: argmax)."""
        return cls(kind=KINDS[hello.rule_kind], person_index=hello.person_index,
                   threshold=hello.threshold, threshold_low=hello.threshold_low,
                   k=hello.k, n=hello.n)  # fmt: skip

    def make_vars(self) -> list[str]:
        """firmware/Makefile variables that build this rule into the image."""
        return [f"DECIDE={self.kind}",
                f"DECIDE_THRESHOLD={self.threshold}", f"DECIDE_THRESHOLD_LOW={self.threshold_low}",
                f"DECIDE_K={self.k}", f"DECIDE_N={self.n}"]  # fmt: skip

    def describe(self) -> str:
        text = {"argmax": "person output strictly the larger",
                "threshold": f"person when score >= {self.threshold}",
                "k_of_n": f"person when at least {self.k} of the last {self.n} frames have "
                          f"score >= {self.threshold}",
                "hysteresis": f"person from score >= {self.threshold} until score < "
                              f"{self.threshold_low}"}[self.kind]  # fmt: skip
        return f"{self.kind}: {text} (score = {SCORE})"

    # --- applying it --------------------------------------------------------------------

    def scores(self, outputs: np.ndarray) -> np.ndarray:
        """int32 scores [frames] of int8 outputs [frames, 2]."""
        out = np.asarray(outputs)
        if out.ndim != 2 or out.shape[1] != 2:
            raise ValueError(f"decision rule: expected outputs [frames, 2], got {out.shape}")
        out = out.astype(np.int32)
        return out[:, self.person_index] - out[:, 1 - self.person_index]

    @property
    def stateful(self) -> bool:
        """True when a decision depends on earlier frames (k_of_n, hysteresis)."""
        return self.kind in ("k_of_n", "hysteresis")

    def frame_classes(self, outputs: np.ndarray) -> np.ndarray:
        """What the rule reads of each frame: the decisions of a sequence are a function
        of this sequence alone (int8 [frames]). 0/1 (miss/hit) for argmax, threshold and
        k_of_n; for hysteresis 0 below threshold_low, 1 between the two (keeps the last
        decision), 2 at or above threshold. Frames of the same class are interchangeable:
        the privacy audit's differential runs must pair frames by class, not by decision,
        when the rule is stateful."""
        s = self.scores(outputs)
        return ((s >= self.threshold).astype(np.int8) + (s >= self.threshold_low)).astype(
            np.int8) if self.kind == "hysteresis" else (s >= self.threshold).astype(np.int8)

    def apply(self, outputs: np.ndarray) -> np.ndarray:
        """Decisions (bool, one per row) for int8 model outputs [frames, 2] in frame order,
        from the state the device boots with."""
        return self.apply_scores(self.scores(outputs))

    def apply_scores(self, scores: np.ndarray) -> np.ndarray:
        """Decisions for a sequence of scores, as firmware/app/pk_decide.c computes them."""
        scores = np.asarray(scores, dtype=np.int64)
        if self.kind in ("argmax", "threshold"):
            return scores >= self.threshold
        decisions = np.zeros(len(scores), dtype=bool)
        if self.kind == "k_of_n":
            hits = (scores >= self.threshold).astype(np.int64)
            window = np.convolve(hits, np.ones(self.n, dtype=np.int64))[: len(hits)]
            return window >= self.k
        on = False
        for i, s in enumerate(scores):
            on = bool(s >= (self.threshold_low if on else self.threshold))
            decisions[i] = on
        return decisions


# --- choosing a threshold --------------------------------------------------------------


def threshold_for_probability(p: float, output_scale: float, softmax: bool) -> int:
    """The smallest score ``s`` whose person probability is at least ``p``.

    Logits output (scale ``output_scale``): P(person) = sigmoid(output_scale * s), so
    ``s >= logit(p) / output_scale``. Softmax output: P(person) - P(other) =
    ``output_scale * s`` with the two summing to 1, so ``s >= (2p - 1) / output_scale``
    (as exact as the int8 probabilities are)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"threshold probability must be in (0, 1), not {p}")
    if not output_scale > 0:
        raise ValueError(f"output scale must be > 0, not {output_scale}")
    bound = (2 * p - 1) if softmax else math.log(p / (1 - p))
    t = math.ceil(bound / output_scale - 1e-9)
    return int(min(max(t, THRESHOLD_RANGE[0]), THRESHOLD_RANGE[1]))


def threshold_for_target_fpr(points: list, target_fpr: float) -> tuple[int, float, float]:
    """(threshold, its false-positive rate, its true-positive rate) on a validation ROC
    given as ``[[threshold, fpr, tpr], ...]`` (see ``operating_points``): the smallest
    threshold, i.e. the highest recall, whose false-positive rate is at most ``target_fpr``.
    """
    if not 0.0 <= target_fpr <= 1.0:
        raise ValueError(f"target false-positive rate must be in [0, 1], not {target_fpr}")
    ok = [(int(t), float(f), float(r)) for t, f, r in points if f <= target_fpr]
    if not ok:
        return THRESHOLD_RANGE[1], 0.0, 0.0
    return min(ok)


def operating_points(labels: np.ndarray, scores: np.ndarray) -> list[list]:
    """``[[threshold, fpr, tpr], ...]`` for every threshold at which the hit set changes
    (each distinct score, plus one above the highest): hits are ``scores >= threshold``."""
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=np.int64)
    pos, neg = int(labels.sum()), int((~labels).sum())
    if pos == 0 or neg == 0:
        raise ValueError("operating points need both classes among the labels")
    out = []
    for t in [*np.unique(scores).tolist(), int(scores.max()) + 1]:
        hit = scores >= t
        out.append([int(t), float((hit & ~labels).sum() / neg), float((hit & labels).sum() / pos)])
    return out
