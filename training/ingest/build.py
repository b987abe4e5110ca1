"""The one build loop every real-image dataset goes through.

Candidates (a file, its label and provenance) come from a source adapter (coco.py,
folders.py). Each is scrubbed and encoded (scrub.py) on a thread pool, one worker per core
by default: Pillow's C decoders and resampling run outside the GIL, so workers overlap
(training/ingest/bench.py measures 1 worker against all cores). A file
that cannot be ingested, a duplicate, an image removed earlier by ``forget``, or the same
picture under both labels (both copies) is skipped with a reason; everything else is
written as a verified PNG and into the split arrays. Inputs are numbered (``index``) in
the adapter's fixed order: the report refers to skipped inputs by number only, and the
terminal alone says which file each number is (report.py).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import PIL

from peekless.errors import UserError
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

BUILDER_VERSION = "1.1.0"
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
    index: int = 0  # the input's number in this build (reports name inputs by it)


@dataclass(frozen=True)
class BuildOptions:
    size: int = 96
    channels: int = 1  # 1 gray, 3 RGB
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    workers: int = 0  # 0: one per CPU core
    max_pixels: int = MAX_PIXELS

    def __post_init__(self) -> None:
        """Options a user typed: refuse what cannot work, saying which option."""
        if not 8 <= self.size <= 1024:
            raise UserError(f"--size {self.size}: give a side between 8 and 1024 pixels")
        if self.channels not in (1, 3):
            raise UserError(f"channels must be 1 (gray) or 3 (rgb), not {self.channels}")
        fractions = (self.val_fraction, self.test_fraction)
        if not (all(0 <= f < 1 for f in fractions) and sum(fractions) < 1):
            raise UserError(
                f"--val {self.val_fraction} --test {self.test_fraction}: give fractions "
                "from 0 to below 1 that leave some images for training"
            )
        if self.workers < 0:
            raise UserError(f"--workers {self.workers}: give 0 (one per core) or more")


def _scrub_one(
    cand: Candidate, opts: BuildOptions, blocked: removals.Blocklist
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
    candidates: list[Candidate], opts: BuildOptions, blocked: removals.Blocklist, desc: str
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
    split and version fields are added here. report: may already hold inputs the adapter
    skipped (``considered`` counts them). Returns the manifest path. Raises UserError,
    leaving ``out_dir`` as it was, when no input could be built.
    """
    out_dir = Path(out_dir)
    existed = out_dir.exists()
    report = report or BuildReport()
    blocked = removals.blocklist(out_dir)  # a rebuild keeps earlier removals removed
    rows: dict[str, dict] = {}  # id -> manifest row
    pixels: dict[str, np.ndarray] = {}
    # pixel sha256 -> (id built, every input with those pixels in order): the first is built
    # now; copies are judged once all are known (a copy under the other label, even a
    # later one, means no copy is built)
    groups: dict[str, tuple[str, list[Candidate]]] = {}
    report.considered += len(candidates)
    for cand, result, png in _scrubbed(candidates, opts, blocked, header.get("name", "build")):
        if isinstance(result, IngestError):
            _skip(report, cand, result.reason, result.detail)
            continue
        if any(d in blocked for d in (result.sha256, result.content_sha256)):
            _skip(report, cand, "removed_on_request")
            continue
        if result.sha256 in groups:
            groups[result.sha256][1].append(cand)
            continue
        image_id = f"{cand.id_prefix}-{cand.source_id or result.source_sha256[:16]}"
        split = assign_split(image_id, opts.val_fraction, opts.test_fraction)
        rel = f"{_IMAGES_DIR}/{split}/{LABEL_NAMES[cand.label]}/{image_id}.png"
        try:
            write_png_checked(out_dir / rel, png)
        except IngestError as e:
            _skip(report, cand, e.reason, e.detail)
            continue
        groups[result.sha256] = (image_id, [cand])
        pixels[image_id] = result.pixels
        report.stripped.update(result.stripped)
        rows[image_id] = {
            "id": image_id,
            "label": int(cand.label),
            "split": split,
            "sha256": result.sha256,
            "content_sha256": result.content_sha256,
            "source_id": cand.source_id or result.source_sha256,
            "licence": cand.licence,
            "contributor": cand.contributor,
            "source": cand.source,
            "source_sha256": result.source_sha256,
            "path": rel,
        }
    for image_id, group in groups.values():
        _judge_copies(image_id, group, rows, pixels, report)
    if not rows:  # undo this run's PNGs (copies of one picture under both labels)
        if existed:
            _prune(out_dir, {r["path"] for r in _old_rows(out_dir)})
        else:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise UserError(
            f"no image could be built: all {report.considered} inputs were skipped "
            "(the reasons are listed above); nothing was written"
        )
    report.built = len(rows)
    for label, name in sorted(LABEL_NAMES.items()):
        if not any(r["label"] == label for r in rows.values()):
            report.warn(
                f"no {name} image was built: a detector needs both classes "
                f"(add {name} pictures and build again; `peekless train` refuses one class)"
            )
    full_header = dict(header)
    full_header.update(
        builder_version=BUILDER_VERSION,
        # decoders differ by version in the last bit; pixel hashes are pinned to these
        decoder=f"Pillow {PIL.__version__}, full-size decoding, bilinear resize",
        size=opts.size,
        channels=opts.channels,
        split={
            "method": "sha256 of the image id (stable under additions and removals)",
            "val_fraction": opts.val_fraction,
            "test_fraction": opts.test_fraction,
        },
    )
    manifest_path = write_dataset(out_dir, full_header, list(rows.values()), pixels)
    _prune(out_dir, {r["path"] for r in rows.values()})
    report.write(out_dir / "report.json")
    write_card(out_dir)
    return manifest_path


def _judge_copies(
    image_id: str, group: list[Candidate], rows: dict, pixels: dict, report: BuildReport
) -> None:
    """Inputs with the same pixels: later copies under the same label are duplicates; a
    copy under the other label means the picture cannot be labelled, so none is built
    and every copy is reported (the terminal names them all) for the user to decide."""
    first = group[0]
    if len({c.label for c in group}) == 1:
        for c in group[1:]:
            _skip(report, c, "duplicate", f"same pixels as input #{first.index}, which is built")
        return
    del rows[image_id], pixels[image_id]
    by_label = ", ".join(
        f"{LABEL_NAMES[label]} #" + ", #".join(str(c.index) for c in group if c.label == label)
        for label in sorted({c.label for c in group})
    )
    detail = f"the same picture in both classes ({by_label}): keep it in one"
    for c in group:
        _skip(report, c, "class_conflict", detail)


def _skip(report: BuildReport, cand: Candidate, reason: str, detail: str = "") -> None:
    """Report ``cand`` as skipped (the report names it by its input number)."""
    report.skip(cand.index, reason, detail, cand.path, cand.source_id)


def _old_rows(out_dir: Path) -> list[dict]:
    """Rows of the dataset already in ``out_dir`` (a failed rebuild must keep them)."""
    path = out_dir / "manifest.json"
    if not path.is_file():
        return []
    from training.ingest.manifest import load_manifest

    return load_manifest(path)["images"]


def _prune(out_dir: Path, keep: set[str]) -> None:
    """Delete PNGs a previous build into the same folder left that this one did not write."""
    root = out_dir / _IMAGES_DIR
    if not root.is_dir():
        return
    for png in root.rglob("*.png"):
        if png.relative_to(out_dir).as_posix() not in keep:
            png.unlink()
