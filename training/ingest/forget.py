"""Removal on request: take images out of a built dataset and say which models are stale.

``forget`` matches rows by contributor, by sha256 (of the scrubbed pixels or of the
original file) or by source id; deletes their PNGs; rewrites only the split arrays that
held them; rewrites the manifest and card; appends a removal record that holds no removed
content (removals.py); and lists the old manifest hash in ``stale_models.json``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.ingest import removals
from training.ingest.card import write_card
from training.ingest.manifest import (
    LABEL_NAMES,
    load_arrays,
    load_manifest,
    manifest_sha256,
    sha256_file,
)
from training.ingest.scrub import scrub_bytes


@dataclass(frozen=True)
class ForgetResult:
    removed: int
    old_manifest_sha256: str
    new_manifest_sha256: str  # equal to the old one when nothing matched


def digests_of_file(path: Path, dataset_dir: Path) -> set[str]:
    """sha256 of a requester's copy of an image: of its bytes, and of its pixels scrubbed
    the way this dataset scrubs them (same size and colour mode), to match either."""
    manifest = load_manifest(Path(dataset_dir) / "manifest.json")
    data = Path(path).read_bytes()
    scrubbed = scrub_bytes(data, int(manifest["size"]), int(manifest["channels"]))
    return {hashlib.sha256(data).hexdigest(), scrubbed.sha256}


def _matches(row: dict, contributor: str | None, digests: set[str], source_id: str | None) -> bool:
    if contributor is not None and row.get("contributor") == contributor:
        return True
    if digests and (row["sha256"] in digests or row.get("source_sha256") in digests):
        return True
    return source_id is not None and row.get("source_id") == source_id


def forget(
    dataset_dir: Path,
    *,
    contributor: str | None = None,
    sha256: str | set[str] | None = None,
    source_id: str | None = None,
) -> ForgetResult:
    """Remove every image matching any given criterion; nothing else changes."""
    if contributor is None and not sha256 and source_id is None:
        raise ValueError("forget needs a contributor, a sha256 or a source id")
    if contributor == "":
        raise ValueError("contributor must not be empty")
    digests = {sha256.lower()} if isinstance(sha256, str) else {d.lower() for d in sha256 or ()}
    dataset_dir = Path(dataset_dir)
    manifest_path = dataset_dir / "manifest.json"
    manifest = load_manifest(manifest_path)
    old_hash = manifest_sha256(manifest_path)
    gone = [r for r in manifest["images"] if _matches(r, contributor, digests, source_id)]
    if not gone:
        return ForgetResult(0, old_hash, old_hash)

    gone_ids = {r["id"] for r in gone}
    for split in sorted({r["split"] for r in gone}):
        _rewrite_split(manifest_path, manifest, split, gone_ids)
    for row in gone:
        if row.get("path"):
            (dataset_dir / row["path"]).unlink(missing_ok=True)
    manifest["images"] = [r for r in manifest["images"] if r["id"] not in gone_ids]
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    new_hash = manifest_sha256(manifest_path)

    counts: dict[str, dict[str, int]] = {}
    for r in gone:
        per = counts.setdefault(r["split"], {"person": 0, "no_person": 0})
        per[LABEL_NAMES[int(r["label"])]] += 1
    request = "contributor" if contributor is not None else "sha256" if digests else "source_id"
    record = {
        "date": datetime.date.today().isoformat(),
        "request": request,
        "removed": len(gone),
        "removed_by_split": counts,
        "old_manifest_sha256": old_hash,
        "new_manifest_sha256": new_hash,
    }
    blocked = {r["sha256"] for r in gone} | {
        r["source_sha256"] for r in gone if r.get("source_sha256")
    }
    removals.append_removal(dataset_dir, record, blocked)
    removals.mark_stale(dataset_dir, old_hash)
    write_card(dataset_dir)
    return ForgetResult(len(gone), old_hash, new_hash)


def _rewrite_split(manifest_path: Path, manifest: dict, split: str, gone_ids: set[str]) -> None:
    """Drop ``gone_ids`` from one split's npz (verified first) and update the manifest."""
    data = load_arrays(manifest_path, split)
    keep = np.array([str(i) not in gone_ids for i in data["ids"]], dtype=bool)
    path = manifest_path.parent / manifest["files"][split]["path"]
    np.savez(path, **{k: v[keep] for k, v in data.items()})
    labels = data["labels"][keep]
    manifest["counts"][split] = {
        "person": int((labels == 1).sum()),
        "no_person": int((labels == 0).sum()),
    }
    manifest["files"][split]["sha256"] = sha256_file(path)
