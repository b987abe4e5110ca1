"""Datasets room: real images in, scrubbed pixels, a manifest and a card out.

Every image that enters is rebuilt from its pixels (scrub.py); every dataset is pinned by
a manifest (manifest.py) that models record by hash; images can be removed on request
(forget.py) and models trained before a removal are flagged stale (removals.py).
Sources: COCO via the Visual Wake Words rules (coco.py), a user's own folders
(folders.py), and the synthetic doorbell scenes of training/synthetic.py.

No package here is named ``datasets``: that name belongs to Hugging Face's library.
"""

from training.ingest.build import BuildOptions
from training.ingest.coco import RULES, build_coco, label_image
from training.ingest.folders import build_folders
from training.ingest.forget import forget
from training.ingest.manifest import load_manifest, load_split, load_split_ids, manifest_sha256
from training.ingest.removals import is_model_stale
from training.ingest.scrub import IngestError, scrub_bytes, scrub_file

__all__ = [
    "RULES",
    "BuildOptions",
    "IngestError",
    "build_coco",
    "build_folders",
    "forget",
    "is_model_stale",
    "label_image",
    "load_manifest",
    "load_split",
    "load_split_ids",
    "manifest_sha256",
    "scrub_bytes",
    "scrub_file",
]
