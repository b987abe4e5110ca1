"""Removal on request: take images out of a built dataset and say which models are stale.

``forget`` matches rows by contributor (name, compared through ``contributor_id``), by
sha256 (of the full-size picture, the scrubbed pixels or the original file), by source id,
or by a copy of the picture (``read_copy``): a copy is decoded, oriented and converted the
way the build does it, so any lossless copy (re-saved PNG of the same pixels, other or no
metadata, rotation applied instead of tagged) has the same content sha256 and matches.

A lossy copy (a re-compressed or resized JPEG, a screenshot) has other pixels, so no exact
match exists. For it ``forget`` compares the copy, scrubbed to the dataset's size, with
every image: those whose mean absolute difference is at most ``NEAR_MEAN_LEVELS`` (of 255)
are *near* matches. They are counted, not removed, unless ``near=True``: near-identical
frames of one scene (a doorbell's empty porch) are that close too, so the requester or the
operator decides. Removing them errs on the side of the person asking.

A removal deletes the images' PNGs, rewrites only the split arrays that held them,
rewrites the manifest and card, appends a record that holds counts and manifest hashes
only (removals.py), and lists the old manifest hash in ``stale_models.json``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from peekless.errors import UserError
from training.ingest import removals
from training.ingest.card import write_card
from training.ingest.folders import contributor_id
from training.ingest.manifest import (
    LABEL_NAMES,
    SPLITS,
    load_arrays,
    load_manifest,
    manifest_sha256,
    sha256_file,
)
from training.ingest.scrub import IngestError, read_source, scrub_bytes

# A lossy copy of a picture scrubbed to 96x96 differs from the original by about 0.5-2
# levels on average (JPEG quality 75-95, or resized to half); other pictures by far more,
# except near-identical frames of the same scene.
NEAR_MEAN_LEVELS = 3.0
_HEX = set("0123456789abcdef")


@dataclass(frozen=True)
class ForgetResult:
    removed: int
    old_manifest_sha256: str
    new_manifest_sha256: str  # equal to the old one when nothing matched
    near: int = 0  # near matches of the copies given (removed only with near=True)
    nearest: float | None = None  # smallest mean absolute difference of a near match


@dataclass(frozen=True)
class Copy:
    """A requester's copy of a picture, read the way the dataset was built."""

    digests: frozenset[str]  # sha256 of its content, scrubbed pixels and file bytes
    pixels: np.ndarray | None  # scrubbed at the dataset's size and mode; None: no decode
    problem: str = ""  # why it could not be decoded (then only its file bytes match)


def _dataset_manifest(dataset_dir: Path) -> Path:
    path = Path(dataset_dir) / "manifest.json"
    if not path.is_file():
        raise UserError(
            f"{dataset_dir}: no dataset here (no manifest.json); give the folder a build "
            "wrote, e.g. datasets/build/<name>"
        )
    return path


def read_copy(path: Path, dataset_dir: Path) -> Copy:
    """Decode a requester's copy at the dataset's size and colour mode."""
    manifest = load_manifest(_dataset_manifest(dataset_dir))
    path = Path(path)
    if path.is_dir():
        raise UserError(f"--image {path}: a folder; give one picture (repeat --image for more)")
    try:
        data = read_source(path)
    except IngestError as e:
        raise UserError(f"--image {path}: {e.detail}; give the picture to remove") from None
    file_digest = hashlib.sha256(data).hexdigest()
    try:
        scrubbed = scrub_bytes(data, int(manifest["size"]), int(manifest["channels"]))
    except IngestError as e:  # the bytes' hash still matches an unscrubbed identical file
        return Copy(frozenset({file_digest}), None, e.detail)
    digests = {file_digest, scrubbed.sha256, scrubbed.content_sha256}
    return Copy(frozenset(digests), scrubbed.pixels)


def digests_of_file(path: Path, dataset_dir: Path) -> set[str]:
    """sha256 digests a copy of an image matches by: its content, pixels and bytes."""
    return set(read_copy(path, dataset_dir).digests)


def _check_digest(d: str) -> str:
    d = d.strip().lower()
    if len(d) != 64 or not set(d) <= _HEX:
        raise UserError(f"--sha256 {d[:70]!r}: not a sha256 (64 hex digits)")
    return d


def _matches(row: dict, contributors: set[str], digests: set[str], source_id: str | None) -> bool:
    if row.get("contributor") in contributors:
        return True
    row_digests = {row["sha256"], row.get("content_sha256"), row.get("source_sha256")}
    if digests & row_digests:
        return True
    return source_id is not None and row.get("source_id") == source_id


def _near_matches(manifest_path: Path, manifest: dict, copies: list[np.ndarray]) -> dict:
    """id -> smallest mean absolute difference to any copy, for those within the limit."""
    found: dict[str, float] = {}
    if not copies:
        return found
    refs = np.stack([c.astype(np.int16) for c in copies])  # [copies, H, W, C]
    for split in SPLITS:
        if split not in manifest["files"]:
            continue
        data = load_arrays(manifest_path, split)
        for start in range(0, len(data["ids"]), 512):  # bounded memory on large datasets
            block = data["images"][start : start + 512].astype(np.int16)
            diff = np.abs(block[:, None] - refs[None]).mean(axis=(2, 3, 4)).min(axis=1)
            for image_id, d in zip(data["ids"][start : start + 512], diff):
                if d <= NEAR_MEAN_LEVELS:
                    found[str(image_id)] = float(d)
    return found


def forget(
    dataset_dir: Path,
    *,
    contributor: str | None = None,
    sha256: str | set[str] | None = None,
    source_id: str | None = None,
    copies: list[Copy] = (),
    near: bool = False,
) -> ForgetResult:
    """Remove every image matching any given criterion; nothing else changes.

    copies: requesters' copies (``read_copy``); exact copies are removed, near matches
    (lossy copies) only with ``near``.
    """
    if contributor is None and not sha256 and source_id is None and not copies:
        raise UserError("forget needs --contributor, --sha256, --image or --source-id")
    if contributor is not None and not contributor.strip():
        raise UserError("--contributor is blank: give the contributor's name")
    digests = {sha256} if isinstance(sha256, str) else set(sha256 or ())
    digests = {_check_digest(d) for d in digests}
    for c in copies:
        digests |= c.digests
    contributors = {contributor, contributor_id(contributor)} if contributor is not None else set()
    dataset_dir = Path(dataset_dir)
    manifest_path = _dataset_manifest(dataset_dir)
    manifest = load_manifest(manifest_path)
    old_hash = manifest_sha256(manifest_path)
    gone = [r for r in manifest["images"] if _matches(r, contributors, digests, source_id)]
    gone_ids = {r["id"] for r in gone}
    lossy = [c.pixels for c in copies if c.pixels is not None]
    close = _near_matches(manifest_path, manifest, lossy) if lossy else {}
    close = {i: d for i, d in close.items() if i not in gone_ids}
    nearest = min(close.values()) if close else None
    if near:
        gone += [r for r in manifest["images"] if r["id"] in close]
        gone_ids = {r["id"] for r in gone}
    if not gone:
        return ForgetResult(0, old_hash, old_hash, len(close), nearest)

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
    kinds = [
        kind
        for kind, given in (
            ("contributor", contributor is not None),
            ("sha256", bool(sha256)),
            ("image", bool(copies)),
            ("near", near and bool(close)),
            ("source_id", source_id is not None),
        )
        if given
    ]
    record = {  # counts and manifest hashes: nothing that names what was removed
        "date": datetime.date.today().isoformat(),
        "request": "+".join(kinds),
        "removed": len(gone),
        "removed_by_split": dict(sorted(counts.items())),
        "old_manifest_sha256": old_hash,
        "new_manifest_sha256": new_hash,
    }
    blocked = set()
    for r in gone:
        blocked |= {d for d in (r["sha256"], r.get("content_sha256"), r.get("source_sha256")) if d}
    removals.append_removal(dataset_dir, record, blocked)
    removals.mark_stale(dataset_dir, old_hash)
    write_card(dataset_dir)
    return ForgetResult(len(gone), old_hash, new_hash, len(close), nearest)


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
