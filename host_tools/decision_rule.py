"""The device's decision rule, applied on the host exactly as the firmware applies it.

The audit and `peekless evaluate` compare every device decision with
``DecisionRule.from_manifest(build_manifest).apply(reference_outputs)``, where
``reference_outputs`` are LiteRT's (BUILTIN_REF) int8 outputs for the frames in the
order the device saw them. The rule is stateful over that order (debouncing), so it is
applied to a whole sequence, never to one frame alone.

Today's firmware rule is ``argmax``: person when the person output is strictly greater
than the other one. Build manifests without a ``decision_rule`` field mean that rule."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DecisionRule:
    kind: str = "argmax"
    person_index: int = 1

    @classmethod
    def from_manifest(cls, manifest: dict | None) -> DecisionRule:
        manifest = manifest or {}
        rule = manifest.get("decision_rule") or {}
        kind = rule.get("kind", "argmax")
        if kind != "argmax":
            raise ValueError(f"build manifest: unknown decision_rule kind {kind!r}")
        return cls(kind=kind, person_index=int(rule.get("person_index", 1)))

    def to_manifest(self) -> dict:
        return {"kind": self.kind, "person_index": self.person_index}

    def apply(self, outputs: np.ndarray) -> np.ndarray:
        """Decisions (bool, one per row) for int8 model outputs [frames, 2] in frame order."""
        out = np.asarray(outputs).astype(np.int16)
        if out.ndim != 2 or out.shape[1] != 2:
            raise ValueError(f"decision rule: expected outputs [frames, 2], got {out.shape}")
        p = self.person_index
        return out[:, p] > out[:, 1 - p]
