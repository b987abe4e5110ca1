"""The build report: what was built, what was skipped and why, what metadata was removed.

Written as ``report.json`` beside the manifest. It names skipped files (they are not in
the dataset) but never the images that were built, so ``forget`` has nothing to clean here.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from training.ingest.scrub import REASONS


@dataclass
class BuildReport:
    """Counts and skip reasons of one build."""

    considered: int = 0
    built: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)  # {source, reason, detail}
    stripped: Counter = field(default_factory=Counter)  # metadata kind -> images carrying it

    def skip(self, source: str, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown skip reason {reason!r}")
        self.skipped.append(
            {"source": source, "reason": reason, "detail": detail or REASONS[reason]}
        )

    def skip_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(s["reason"] for s in self.skipped).items()))

    def to_dict(self) -> dict:
        return {
            "considered": self.considered,
            "built": self.built,
            "skipped_by_reason": self.skip_counts(),
            "metadata_removed": dict(sorted(self.stripped.items())),
            "reasons": {r: REASONS[r] for r in self.skip_counts()},
            "skipped": self.skipped,
        }

    def write(self, path: Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    def summary(self) -> str:
        lines = [f"built {self.built} of {self.considered} images"]
        for reason, n in self.skip_counts().items():
            lines.append(f"  skipped {n:6d} {reason}: {REASONS[reason]}")
        if self.stripped:
            kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.stripped.items()))
            lines.append(f"  metadata removed (images carrying it): {kinds}")
        return "\n".join(lines)


def load_report(path: Path) -> dict:
    """A written report as a dict, or an empty one when there is none (e.g. synthetic)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else {}
