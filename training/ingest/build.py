"""The one build loop every real-image dataset goes through.

Candidates (a file, its label and provenance) come from a source adapter (coco.py,
folders.py). Each is scrubbed and encoded (scrub.py) on a thread pool, one worker per core
by default: Pillow's C decoders and resampling run outside the GIL, so workers overlap
(training/ingest/bench.py measures 1 worker against all cores). A file
that cannot be ingested, a duplicate, or an image removed earlier by ``forget`` is skipped
with a reason; everything else is written as a verified PNG and into the split arrays.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import PIL

from training.ingest import removals
from training.ingest.card import write_card
from training.ingest.manifest import LABEL_NAMES, assign_split, write_dataset
from training.ingest.report import BuildReport
from training.ingest.scrub import (
    MAX_PIXELS,
    IngestError,
    Scrubbed,
    clean_png,
    read_source,
    scrub_bytes,
    write_png_checked,
)

BUILDER_VERSION = "1.0.0"
_PROGRESS_THRESHOLD = 200
_IMAGES_DIR = "images"


@dataclass(frozen=True)
class Candidate:
    """One source image and what we know about it before decoding."""

    path: Path
    label: int  # 1 person, 0 no person
    source_id: str | None  # id in the source (COCO image id); None: the file's sha256
    licence: str
    contributor: str | None
    source: str  # where it came from (URL or import name), never a local path
    id_prefix: str  # dataset id = f"{id_prefix}-{source_id or source_sha256[:16]}"


@dataclass(frozen=True)
class BuildOptions:
    size: int = 96
    channels: int = 1  # 1 gray, 3 RGB
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    workers: int = 0  # 0: one per CPU core
    max_pixels: int = MAX_PIXELS


def _scrub_one(
    cand: Candidate, opts: BuildOptions, blocked: frozenset[str]
) -> tuple[Candidate, Scrubbed | IngestError, bytes]:
    """Read, scrub and encode one file (in a worker thread): (candidate, result, PNG)."""
    try:
        data = read_source(cand.path)
        if removals.source_blocked(data, blocked):  # before decoding: no wasted work
            raise IngestError("removed_on_request")
        result = scrub_bytes(data, opts.size, opts.channels, opts.max_pixels)
        return cand, result, clean_png(result.pixels)
    except IngestError as e:
        return cand, e, b""


def _scrubbed(
    candidates: list[Candidate], opts: BuildOptions, blocked: frozenset[str], desc: str
) -> Iterator[tuple[Candidate, Scrubbed | IngestError, bytes]]:
    """Results in input order (so the build is deterministic whatever the timing), with a
    bounded number in flight (so memory does not grow with the number of candidates)."""
    workers = opts.workers or os.cpu_count() or 1
    todo = iter(candidates)
    progress = None
    if len(candidates) > _PROGRESS_THRESHOLD:
        from tqdm import tqdm

        progress = tqdm(total=len(candidates), desc=desc, unit="img", file=sys.stderr)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = deque(
            pool.submit(_scrub_one, c, opts, blocked) for c in islice(todo, 4 * workers)
        )
        while pending:
            result = pending.popleft().result()
            for c in islice(todo, 1):
                pending.append(pool.submit(_scrub_one, c, opts, blocked))
            if progress is not None:
                progress.update()
            yield result
    if progress is not None:
        progress.close()


def build(
    candidates: list[Candidate],
    out_dir: Path,
    header: dict,
    opts: BuildOptions,
    report: BuildReport | None = None,
) -> Path:
    """Scrub every candidate into ``out_dir``; write manifest, report and card.

    header: dataset-level manifest fields (name, rule, sources, ...); size, channels,
    split and version fields are added here. Returns the manifest path.
    """
    out_dir = Path(out_dir)
    report = report or BuildReport()
    blocked = removals.blocklist(out_dir)  # a rebuild keeps earlier removals removed
    rows: list[dict] = []
    pixels: dict[str, np.ndarray] = {}
    seen: dict[str, str] = {}  # pixel sha256 -> id
    report.considered += len(candidates)
    for cand, result, png in _scrubbed(candidates, opts, blocked, header.get("name", "build")):
        where = cand.source_id or str(cand.path)
        removed = isinstance(result, IngestError) and result.reason == "removed_on_request"
        if removed or (isinstance(result, Scrubbed) and result.sha256 in blocked):
            report.skip("(withheld)", "removed_on_request")  # the report must not name it
            continue
        if isinstance(result, IngestError):
            report.skip(where, result.reason, result.detail)
            continue
        image_id = f"{cand.id_prefix}-{cand.source_id or result.source_sha256[:16]}"
        if result.sha256 in seen:
            report.skip(where, "duplicate", f"same pixels as {seen[result.sha256]}")
            continue
        split = assign_split(image_id, opts.val_fraction, opts.test_fraction)
        rel = f"{_IMAGES_DIR}/{split}/{LABEL_NAMES[cand.label]}/{image_id}.png"
        try:
            write_png_checked(out_dir / rel, png)
        except IngestError as e:
            report.skip(where, e.reason, e.detail)
            continue
        seen[result.sha256] = image_id
        pixels[image_id] = result.pixels
        report.stripped.update(result.stripped)
        rows.append(
            {
                "id": image_id,
                "label": int(cand.label),
                "split": split,
                "sha256": result.sha256,
                "source_id": cand.source_id or result.source_sha256,
                "licence": cand.licence,
                "contributor": cand.contributor,
                "source": cand.source,
                "source_sha256": result.source_sha256,
                "path": rel,
            }
        )
    report.built = len(rows)
    full_header = dict(header)
    full_header.update(
        builder_version=BUILDER_VERSION,
        # decoders differ by version in the last bit; pixel hashes are pinned to these
        decoder=f"Pillow {PIL.__version__}, JPEG reduced-size decoding, bilinear resize",
        size=opts.size,
        channels=opts.channels,
        split={
            "method": "sha256 of the image id (stable under additions and removals)",
            "val_fraction": opts.val_fraction,
            "test_fraction": opts.test_fraction,
        },
    )
    manifest_path = write_dataset(out_dir, full_header, rows, pixels)
    _prune(out_dir, {r["path"] for r in rows})
    report.write(out_dir / "report.json")
    write_card(out_dir)
    return manifest_path


def _prune(out_dir: Path, keep: set[str]) -> None:
    """Delete PNGs a previous build into the same folder left that this one did not write."""
    root = out_dir / _IMAGES_DIR
    if not root.is_dir():
        return
    for png in root.rglob("*.png"):
        if png.relative_to(out_dir).as_posix() not in keep:
            png.unlink()
