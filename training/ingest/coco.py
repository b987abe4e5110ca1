"""COCO instances annotations to a Visual Wake Words dataset (plain JSON, no pycocotools).

Label rules (``RULES``; the rule's name and text go into the manifest, so two builds
that differ say so):

- ``vww``: person (1) iff some person box, clipped to the image, covers more than 0.5 %
  of the image area; otherwise no person (0), also when only smaller persons are present.
  That is the rule as the Visual Wake Words paper states it.
- ``mlperf``: the same test at 2.5 %, and images whose persons are all at or below
  2.5 % are dropped rather than labelled "no person".
- ``vww-tfslim``: what the TF-slim reference builder computes, which differs from the
  paper: it compares the annotation's *segmentation* ``area`` (not the box) and counts
  an area exactly at 0.5 % as person. For comparison with numbers built by that script.

Crowd annotations (``iscrowd: 1``, a box around a group of people) count as persons in
every rule, as in the reference builder: a crowd is people in view.

Areas are compared as exact fractions, so a box exactly at the threshold is never
mislabelled by floating-point rounding.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from peekless.errors import UserError
from training.ingest.build import BuildOptions, Candidate, build
from training.ingest.report import BuildReport


@dataclass(frozen=True)
class LabelRule:
    name: str
    threshold: Fraction  # of the image area
    area: str  # "bbox" (clipped box w*h) or "segmentation" (the annotation's area field)
    strict: bool  # person needs area > threshold (True) or >= threshold (False)
    drop_small: bool  # drop images whose persons are all below the threshold
    description: str


RULES = {
    "vww": LabelRule(
        "vww", Fraction(1, 200), "bbox", True, False,
        "person iff a person box (crowd boxes included, clipped to the image) covers more "
        "than 0.5% of the image; otherwise no person",
    ),
    "mlperf": LabelRule(
        "mlperf", Fraction(1, 40), "bbox", True, True,
        "person iff a person box (crowd boxes included, clipped to the image) covers more "
        "than 2.5% of the image; images with only smaller persons are dropped; no person "
        "iff no person annotation at all",
    ),
    "vww-tfslim": LabelRule(
        "vww-tfslim", Fraction(1, 200), "segmentation", False, False,
        "as the TF-slim reference builder: person iff a person annotation's segmentation "
        "area is at least 0.5% of the image (crowds included); otherwise no person",
    ),
}  # fmt: skip


def _person_area(ann: dict, width: int, height: int, rule: LabelRule) -> Fraction:
    if rule.area == "segmentation":
        return Fraction(ann.get("area", 0))
    x, y, w, h = (Fraction(v) for v in ann["bbox"])
    w = min(x + w, width) - max(x, Fraction(0))
    h = min(y + h, height) - max(y, Fraction(0))
    return w * h if w > 0 and h > 0 else Fraction(0)


def label_image(person_anns: list[dict], width: int, height: int, rule: LabelRule) -> int | None:
    """1 person, 0 no person, None drop, from the image's person annotations."""
    limit = rule.threshold * width * height
    small = False
    for ann in person_anns:
        area = _person_area(ann, width, height, rule)
        if area > limit or (not rule.strict and area == limit):
            return 1
        small = small or area > 0
    return None if small and rule.drop_small else 0


@dataclass(frozen=True)
class CocoImage:
    image_id: int
    file_name: str
    label: int | None
    licence: str
    source: str


def read_annotations(path: Path, rule: LabelRule) -> tuple[list[CocoImage], str]:
    """Labelled images of one instances_*.json and the file's sha256."""
    path = Path(path)
    if not path.is_file():
        what = "a folder" if path.is_dir() else "no such file"
        raise UserError(f"--annotations {path}: {what} (give an instances_*.json file)")
    raw = path.read_bytes()
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UserError(f"--annotations {path}: not JSON (give an instances_*.json file)") from None
    cats = data.get("categories", []) if isinstance(data, dict) else []
    person_ids = {c["id"] for c in cats if c.get("name") == "person"}
    if not person_ids or "images" not in data:
        raise UserError(
            f"--annotations {path}: no 'person' category or no images: not a COCO instances "
            "file (captions_* and person_keypoints_* are not; use instances_*.json)"
        )
    licences = {
        lic["id"]: f"{lic.get('name', '?')} ({lic['url']})"
        if lic.get("url")
        else lic.get("name", "?")
        for lic in data.get("licenses", [])
    }
    persons: dict[int, list[dict]] = defaultdict(list)
    for ann in data.get("annotations", []):
        if ann.get("category_id") in person_ids:
            persons[ann["image_id"]].append(ann)
    images = []
    for im in data["images"]:
        w, h = int(im["width"]), int(im["height"])
        images.append(
            CocoImage(
                image_id=int(im["id"]),
                file_name=im["file_name"],
                label=label_image(persons.get(im["id"], []), w, h, rule),
                licence=licences.get(im.get("license"), "unknown (not in the annotations file)"),
                source=im.get("flickr_url") or im.get("coco_url") or f"COCO {im['file_name']}",
            )
        )
    return images, hashlib.sha256(raw).hexdigest()


def find_image(file_name: str, image_dirs: list[Path]) -> Path:
    """DIR/file_name, or DIR/train2014/file_name for COCO_train2014_*.jpg names."""
    m = re.match(r"COCO_([a-z]+\d{4})_", file_name)
    first = None
    for d in image_dirs:
        for cand in (d / file_name, d / m.group(1) / file_name if m else None):
            if cand is not None:
                first = first or cand
                if cand.exists():
                    return cand
    return first or Path(file_name)  # missing: the build reports it as such


def build_coco(
    annotations: list[Path],
    image_dirs: list[Path],
    out_dir: Path,
    rule: str = "vww",
    opts: BuildOptions | None = None,
    limit: int | None = None,
    *,
    echo: Callable[[str], None] | None = None,
) -> Path:
    """Build a VWW dataset from COCO; returns the manifest path.

    limit: only the first ``limit`` images (by image id) for a quick trial build.
    echo: where terminal lines go (each skipped image with its path); None: nowhere.
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; choose from {sorted(RULES)}")
    if limit is not None and limit < 1:
        raise UserError(f"--limit {limit}: give 1 or more images, or leave it out")
    missing = [str(d) for d in image_dirs if not Path(d).is_dir()]
    if missing:
        raise UserError(f"--images {missing[0]}: no such folder (give the COCO image folder)")
    label_rule = RULES[rule]
    opts = opts or BuildOptions()
    report = BuildReport(echo=echo)
    images: dict[int, CocoImage] = {}
    sources = []
    for path in annotations:
        found, digest = read_annotations(Path(path), label_rule)
        sources.append({"kind": "coco", "annotations": Path(path).name, "sha256": digest})
        for im in found:
            images.setdefault(im.image_id, im)
    ordered = sorted(images.values(), key=lambda im: im.image_id)[:limit]
    candidates = []
    for index, im in enumerate(ordered, start=1):
        if im.label is None:
            report.considered += 1
            report.skip(index, "small_person_only", source_id=str(im.image_id))
            continue
        candidates.append(
            Candidate(
                path=find_image(im.file_name, [Path(d) for d in image_dirs]),
                label=im.label,
                source_id=str(im.image_id),
                licence=im.licence,
                contributor=None,  # COCO does not record who took or is in a photo
                source=im.source,
                id_prefix="coco",
                index=index,
            )
        )
    header = {
        "name": f"coco-{label_rule.name}",
        "rule": {"name": label_rule.name, "description": label_rule.description},
        "sources": sources,
    }
    return build(candidates, Path(out_dir), header, opts, report)
