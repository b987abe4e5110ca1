"""DATASET_CARD.md, generated from manifest.json, report.json and removals.json.

The card says what a dataset is: counts per class and split, the label rule, sources and
licences, what was dropped and why, what metadata was removed, how many removal requests
were honoured, and the manifest hash models record. It names no contributor and no image.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from training.ingest.manifest import SPLITS, load_manifest, manifest_sha256
from training.ingest.removals import load_removals
from training.ingest.report import load_report
from training.ingest.scrub import REASONS

CARD_FILE = "DATASET_CARD.md"
_SYNTHETIC_NOTE = (
    "**Synthetic data.** These scenes are rendered by a program: they serve tests, the demo "
    "and smoke runs of the pipeline. They are no substitute for real data, and accuracy on "
    "them says little about accuracy on real doorbell images."
)


def render_card(dataset_dir: Path) -> str:
    """The card's Markdown text."""
    dataset_dir = Path(dataset_dir)
    manifest_path = dataset_dir / "manifest.json"
    m = load_manifest(manifest_path)
    report = load_report(dataset_dir / "report.json")
    removed = load_removals(dataset_dir)["removals"]
    mode = {1: "gray", 3: "RGB"}.get(m.get("channels"), "?")
    out = [f"# Dataset card: {m['name']}", ""]
    if m["name"].startswith("synthetic"):
        out += [_SYNTHETIC_NOTE, ""]
    out += [
        f"- Images: {len(m['images'])}, {m.get('size', '?')}x{m.get('size', '?')} {mode}",
        f"- Manifest sha256: `{manifest_sha256(manifest_path)}` (models record this)",
        f"- Built by: {_built_by(m)}",
        f"- Label rule: {_rule_text(m)}",
        f"- Split: {_split_text(m)}",
        "",
        "## Counts",
        "",
        "| split | person | no_person | total |",
        "| --- | ---: | ---: | ---: |",
    ]
    for split in SPLITS:
        c = m["counts"].get(split, {"person": 0, "no_person": 0})
        out.append(
            f"| {split} | {c['person']} | {c['no_person']} | {c['person'] + c['no_person']} |"
        )
    out += ["", "## Sources and licences", ""]
    out += _sources(m)
    out += ["", "## Dropped and why", ""]
    skipped = report.get("skipped_by_reason", {})
    if report:
        out.append(
            f"At build time {report.get('built', 0)} of {report.get('considered', 0)} "
            "candidate images were built; removals since are counted below."
        )
        out.append("")
    out += [f"- {reason}: {n} ({REASONS.get(reason, '')})" for reason, n in skipped.items()]
    if report and not skipped:
        out.append("- nothing")
    if skipped:
        numbered = "`report.json` numbers each skipped input; only the build's terminal said "
        out += ["", numbered + "which file each number was."]
    for warning in report.get("warnings", []):
        out += ["", f"**Warning:** {warning}"]
    if not report:
        out.append("- no build report (generated data: nothing to drop)")
    out += ["", "## Metadata removed at ingest", ""]
    stripped = report.get("metadata_removed", {})
    if stripped:
        out.append("Every image is rebuilt from its pixels; sources carried (images per kind):")
        out += [f"- {kind}: {n}" for kind, n in stripped.items()]
    else:
        out.append("- none found (or generated data)")
    out += ["", "## Removals on request", ""]
    if removed:
        n = sum(r["removed"] for r in removed)
        out.append(
            f"{len(removed)} request(s), {n} image(s) removed. Models trained on an "
            "earlier manifest are listed as stale in `stale_models.json`."
        )
    else:
        out.append("- none")
    return "\n".join(out) + "\n"


def write_card(dataset_dir: Path) -> Path:
    """Write the card beside the manifest and return its path."""
    path = Path(dataset_dir) / CARD_FILE
    path.write_text(render_card(dataset_dir))
    return path


def _built_by(m: dict) -> str:
    if "builder_version" in m:
        return f"peekless ingest {m['builder_version']}, {m.get('decoder', '?')}"
    if "generator_version" in m:
        return f"synthetic generator {m['generator_version']}, seed {m.get('seed')}"
    return "unknown"


def _rule_text(m: dict) -> str:
    rule = m.get("rule", "not recorded")
    if isinstance(rule, dict):
        return f"`{rule.get('name')}`: {rule.get('description', '')}"
    return str(rule)


def _split_text(m: dict) -> str:
    split = m.get("split")
    if isinstance(split, dict):
        return (
            f"{split.get('method')}; val {split.get('val_fraction')}, "
            f"test {split.get('test_fraction')}"
        )
    return "stratified by label with a fixed seed" if "seed" in m else "not recorded"


def _sources(m: dict) -> list[str]:
    lines = []
    for s in m.get("sources", []):
        desc = ", ".join(f"{k}: {v}" for k, v in s.items() if k != "kind")
        lines.append(f"- {s.get('kind', 'source')}: {desc}")
    licences = Counter(r.get("licence") or m.get("licence") or "not recorded" for r in m["images"])
    lines += ["", "| licence | images |", "| --- | ---: |"]
    lines += [f"| {lic} | {n} |" for lic, n in licences.most_common()]
    contributors = {r.get("contributor") for r in m["images"] if r.get("contributor")}
    note = (
        "the manifest keeps a digest of each name, not the name, so that "
        "`peekless dataset forget --contributor NAME` finds their pictures"
    )
    lines += ["", f"Named contributors: {len(contributors)} ({note})."]
    return lines
