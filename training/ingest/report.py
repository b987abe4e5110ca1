"""The build report: what was built, what was skipped and why, what metadata was removed.

Written as ``report.json`` beside the manifest. A file name is metadata (names, places,
dates), so the report never holds one: each input the build looked at has a number
(``input``, 1, 2, ... in the build's fixed order), and a skipped input is recorded by
that number, its reason and a detail that names no file. Only the terminal, where the
user typed the paths anyway, says which file each number is (``echo``). A COCO build adds
the image's public COCO id (``source_id``). The report never names a built image either,
so ``forget`` has nothing to clean here.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from training.ingest.scrub import REASONS


@dataclass
class BuildReport:
    """Counts, skip reasons and warnings of one build.

    echo: where the terminal lines go (each skipped input with its path); None: nowhere.
    """

    considered: int = 0
    built: int = 0
    skipped: list[dict] = field(default_factory=list)  # {input, reason, detail[, source_id]}
    stripped: Counter = field(default_factory=Counter)  # metadata kind -> images carrying it
    warnings: list[str] = field(default_factory=list)  # no paths: written to the report
    echo: Callable[[str], None] | None = None

    def skip(
        self,
        index: int,
        reason: str,
        detail: str = "",
        where: str | Path | None = None,
        source_id: str | None = None,
    ) -> None:
        """Record input number ``index`` as skipped; ``where`` (its path) goes to the
        terminal only."""
        if reason not in REASONS:
            raise ValueError(f"unknown skip reason {reason!r}")
        entry = {"input": int(index), "reason": reason, "detail": detail or REASONS[reason]}
        if source_id is not None:
            entry["source_id"] = source_id
        self.skipped.append(entry)
        if self.echo is not None:
            shown = f": {where}" if where is not None else ""
            self.echo(f"  skipped #{index} {reason} ({entry['detail']}){shown}")

    def warn(self, text: str) -> None:
        """A warning about the whole build (it must name no file: it is written)."""
        self.warnings.append(text)
        if self.echo is not None:
            self.echo(f"warning: {text}")

    def skip_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(s["reason"] for s in self.skipped).items()))

    def to_dict(self) -> dict:
        return {
            "considered": self.considered,
            "built": self.built,
            "skipped_by_reason": self.skip_counts(),
            "metadata_removed": dict(sorted(self.stripped.items())),
            "reasons": {r: REASONS[r] for r in self.skip_counts()},
            "warnings": self.warnings,
            "skipped": sorted(self.skipped, key=lambda s: s["input"]),
        }

    def write(self, path: Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        return path

    def summary(self) -> str:
        lines = [f"built {self.built} of {self.considered} inputs"]
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
