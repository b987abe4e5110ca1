"""sha256 of a file, read in 1 MiB chunks: one definition for the dataset manifests
(training/ingest/manifest.py) and the pretrained-model registry (training/pretrained.py),
in a module that imports nothing heavy."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """sha256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()
