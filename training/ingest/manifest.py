"""The dataset manifest: one JSON file that pins every image of a dataset.

A superset of the synthetic-doorbell manifest (training/synthetic.py): the same top-level
``name``, ``counts``, ``files`` ({split: {path, sha256}} of ``{split}.npz`` holding
``images``, ``labels``, ``ids``) and ``images`` rows ({id, label, split, sha256 of the
pixels}); real datasets add to each row ``source_id``, ``licence``, ``contributor``,
``source``, ``source_sha256`` (of the original file) and ``path`` (the scrubbed PNG).
So ``load_split`` here reads both kinds, and a model that records ``manifest_sha256``
names exactly the images it was trained on.

Splits are fixed by a hash of the image id (``assign_split``): an image keeps its split
whatever else is added or removed, so a rebuild or a ``forget`` never moves test images
into training.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from peekless.errors import UserError
from training.file_hash import sha256_file

SPLITS = ("train", "val", "test")
ROW_KEYS = ("id", "label", "split", "sha256")  # what every manifest row has
SOURCE_KEYS = ("source_id", "licence", "contributor", "source", "source_sha256", "path")
LABEL_NAMES = {0: "no_person", 1: "person"}
_SPLIT_SALT = "peekless-split-v1:"


def manifest_sha256(manifest_path: Path) -> str:
    """The hash a model records to name the data it was trained on."""
    return sha256_file(Path(manifest_path))


def assign_split(image_id: str, val_fraction: float, test_fraction: float) -> str:
    """Split ("train", "val" or "test") from a hash of the id: stable, order-free, machine-free."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"bad split fractions: val={val_fraction}, test={test_fraction}")
    digest = hashlib.sha256((_SPLIT_SALT + image_id).encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    return "test" if u < test_fraction else "val" if u < test_fraction + val_fraction else "train"


def write_dataset(
    out_dir: Path, header: dict, rows: list[dict], pixels: dict[str, np.ndarray]
) -> Path:
    """Write ``{split}.npz`` and ``manifest.json``; returns the manifest path.

    header: dataset-level fields (name, size, channels, rule, sources, ...).
    rows: manifest rows, each with at least ROW_KEYS; written sorted by id.
    pixels: id -> uint8 [size, size, channels].
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda r: r["id"])
    shape = (int(header["size"]), int(header["size"]), int(header["channels"]))
    manifest = dict(header)
    manifest.update(counts={}, files={}, images=rows)
    for split in SPLITS:
        chosen = [r for r in rows if r["split"] == split]
        images = np.zeros((len(chosen), *shape), dtype=np.uint8)
        for i, r in enumerate(chosen):
            images[i] = pixels[r["id"]]
        labels = np.array([r["label"] for r in chosen], dtype=np.int64)
        ids = np.array([r["id"] for r in chosen], dtype=str)
        path = out_dir / f"{split}.npz"
        np.savez(path, images=images, labels=labels, ids=ids)
        manifest["counts"][split] = {
            "person": int((labels == 1).sum()),
            "no_person": int((labels == 0).sum()),
        }
        manifest["files"][split] = {"path": path.name, "sha256": sha256_file(path)}
    manifest_path = out_dir / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest_path


def load_manifest(manifest_path: Path) -> dict:
    """Any Peekless dataset manifest (synthetic, COCO, folders), checked for shape."""
    manifest_path = Path(manifest_path)
    build_one = "build one with `peekless dataset build`, or give the manifest.json it wrote"
    if manifest_path.is_dir():
        inner = manifest_path / "manifest.json"
        raise UserError(
            f"{manifest_path}: a folder; give {inner}"
            if inner.is_file()
            else f"{manifest_path}: no dataset here (no manifest.json; {build_one})"
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except FileNotFoundError:
        raise UserError(f"{manifest_path}: no such file ({build_one})") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UserError(
            f"{manifest_path}: not a dataset manifest (not JSON; {build_one})"
        ) from None
    missing = (
        [k for k in ("name", "counts", "files", "images") if k not in manifest]
        if isinstance(manifest, dict)
        else ["fields"]
    )
    if missing:
        raise UserError(
            f"{manifest_path}: not a dataset manifest (no {', '.join(missing)}; {build_one})"
        )
    return manifest


def load_arrays(manifest_path: Path, split: str) -> dict[str, np.ndarray]:
    """The split's npz arrays (images, labels, ids), verified against the manifest."""
    manifest_path = Path(manifest_path)
    manifest = load_manifest(manifest_path)
    if split not in manifest["files"]:
        raise ValueError(f"{manifest_path}: no split {split!r} (have {sorted(manifest['files'])})")
    entry = manifest["files"][split]
    path = manifest_path.parent / entry["path"]
    actual = sha256_file(path)
    if actual != entry["sha256"]:
        raise ValueError(f"{path}: sha256 {actual} does not match manifest ({entry['sha256']})")
    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    got = {
        "person": int((data["labels"] == 1).sum()),
        "no_person": int((data["labels"] == 0).sum()),
    }
    if got != manifest["counts"][split]:
        raise ValueError(
            f"{path}: label counts {got} differ from manifest {manifest['counts'][split]}"
        )
    return data


def load_split(manifest_path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (uint8 NHWC) and labels (int64) of one split of any Peekless dataset."""
    data = load_arrays(manifest_path, split)
    return data["images"], data["labels"]


def load_split_ids(manifest_path: Path, split: str) -> list[str]:
    """Image ids of one split, in the order ``load_split`` returns the images."""
    return [str(x) for x in load_arrays(manifest_path, split)["ids"]]
