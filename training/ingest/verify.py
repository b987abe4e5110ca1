"""Re-check a built dataset: arrays match the manifest, every PNG is bare and matches."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.ingest.manifest import SPLITS, load_arrays, load_manifest
from training.ingest.scrub import IngestError, check_clean_png, pixels_sha256


def verify_dataset(dataset_dir: Path) -> list[str]:
    """Problems found (empty when the dataset is intact and clean)."""
    dataset_dir = Path(dataset_dir)
    manifest_path = dataset_dir / "manifest.json"
    manifest = load_manifest(manifest_path)
    rows = {r["id"]: r for r in manifest["images"]}
    problems = []
    listed = 0
    for split in SPLITS:
        if split not in manifest["files"]:
            continue
        try:
            data = load_arrays(manifest_path, split)
        except (ValueError, OSError) as e:
            problems.append(str(e))
            continue
        listed += len(data["ids"])
        for image_id, pixels in zip(data["ids"], data["images"]):
            row = rows.get(str(image_id))
            if row is None or row["split"] != split:
                problems.append(f"{split}.npz: {image_id} not listed in {split} in the manifest")
            elif pixels_sha256(pixels) != row["sha256"]:
                problems.append(f"{split}.npz: {image_id} pixels do not match their sha256")
            elif row.get("path"):
                problems += _check_png(dataset_dir / row["path"], pixels)
    if not problems and listed != len(rows):
        problems.append(f"manifest lists {len(rows)} images, the arrays hold {listed}")
    return problems


def _check_png(path: Path, pixels: np.ndarray) -> list[str]:
    try:
        check_clean_png(path.read_bytes(), pixels)
    except FileNotFoundError:
        return [f"{path}: missing"]
    except IngestError as e:
        return [f"{path}: {e.detail}"]
    return []
