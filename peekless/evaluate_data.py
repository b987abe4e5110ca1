"""What `peekless evaluate` measures a model on: one split of a dataset manifest, or a plain
labelled folder (``person/`` and ``no_person/``) scrubbed on the fly.

A folder is read the way a dataset build reads it (training/ingest/scrub.py: decode, apply
the EXIF orientation, drop every byte but the pixels, resize to the model's input), but
nothing is written: the pixels live in memory for the run. Symlinks are not followed and
files that cannot be decoded are skipped; the description that goes into the report holds
counts and reasons only, never a file or folder name.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from peekless.errors import UserError
from training.ingest.folders import CLASS_FOLDERS as CLASSES  # {"no_person": 0, "person": 1}


@dataclass
class EvalData:
    images: np.ndarray  # uint8 [N, H, W, C], at the model's input size
    labels: np.ndarray  # int64 [N], 1 = person
    description: dict = field(default_factory=dict)  # for the report: no file names


def load_eval_data(dataset: Path, input_shape: tuple[int, int, int], split: str = "test",
                   limit: int | None = None) -> EvalData:  # fmt: skip
    """The frames of ``dataset`` (a manifest.json, or a folder with person/ and no_person/)
    for a model taking ``input_shape``; the first ``limit`` frames when given."""
    dataset = Path(dataset)
    if dataset.is_file():
        data = _from_manifest(dataset, input_shape, split)
    elif dataset.is_dir():
        if (dataset / "manifest.json").is_file() and not any(
            (dataset / c).is_dir() for c in CLASSES
        ):
            data = _from_manifest(dataset / "manifest.json", input_shape, split)
        else:
            data = _from_folder(dataset, input_shape)
    else:
        raise UserError(f"{dataset}: no such dataset",
                        "give a manifest.json or a folder with person/ and no_person/")  # fmt: skip
    if limit is not None and limit < len(data.labels):
        data.images, data.labels = data.images[:limit], data.labels[:limit]
        data.description["limited_to"] = limit
    if len(data.labels) == 0:
        raise UserError(f"{dataset}: no frames to evaluate on")
    data.description["frames"] = len(data.labels)
    data.description["per_class"] = {name: int(np.sum(data.labels == c)) for name, c in CLASSES.items()}
    return data


def _from_manifest(path: Path, input_shape: tuple[int, int, int], split: str) -> EvalData:
    from training.ingest import load_manifest, load_split, manifest_sha256

    manifest = load_manifest(path)  # a UserError for anything but a dataset manifest
    if split not in manifest["files"]:
        raise UserError(f"{path}: no split {split!r}", f"have {sorted(manifest['files'])}")
    images, labels = load_split(path, split)
    if tuple(images.shape[1:]) != tuple(input_shape):
        raise UserError(f"the dataset's frames are {tuple(images.shape[1:])}, the model takes "
                        f"{tuple(input_shape)}",
                        "evaluate on a dataset built at the model's size and colour")  # fmt: skip
    return EvalData(images, np.asarray(labels, dtype=np.int64),
                    {"kind": "manifest", "name": manifest.get("name"), "split": split,
                     "manifest_sha256": manifest_sha256(path)})  # fmt: skip


def _from_folder(root: Path, input_shape: tuple[int, int, int]) -> EvalData:
    from tqdm import tqdm

    from training.ingest.scrub import IngestError, scrub_file

    h, w, c = input_shape
    if h != w:
        raise UserError(f"the model takes {h}x{w} frames", "folder evaluation resizes to a square")
    if not any((root / name).is_dir() for name in CLASSES):
        raise UserError(f"{root}: no person/ or no_person/ folder",
                        "put the frames in ROOT/person/ and ROOT/no_person/")  # fmt: skip
    files, skipped = [], Counter()
    for name, label in CLASSES.items():
        folder = root / name
        if folder.is_symlink() or not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            if path.is_symlink():
                skipped["symlink (not followed)"] += 1
            elif path.is_file():
                files.append((path, label))
    images, labels = [], []
    for path, label in tqdm(files, desc="scrubbing frames", unit="img", file=sys.stderr,
                            disable=len(files) < 50):  # fmt: skip
        try:
            images.append(scrub_file(path, h, c).pixels)
            labels.append(label)
        except IngestError as exc:
            skipped[exc.reason] += 1
    if skipped:
        print("skipped: " + ", ".join(f"{n} {why}" for why, n in sorted(skipped.items())),
              file=sys.stderr)  # fmt: skip
    shape = (0, h, w, c)
    return EvalData(np.stack(images) if images else np.zeros(shape, np.uint8),
                    np.asarray(labels, dtype=np.int64),
                    {"kind": "folder (scrubbed in memory, nothing written)",
                     "skipped": dict(sorted(skipped.items()))})  # fmt: skip
