"""COCO -> Visual Wake Words: labels by each rule, thresholds, crowds, provenance, splits."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from ingest_fixtures import write_coco

from peekless.errors import UserError
from training.ingest.build import BuildOptions
from training.ingest.coco import RULES, build_coco, label_image
from training.ingest.manifest import assign_split, load_arrays, load_manifest, load_split
from training.ingest.scrub import pixels_sha256

# 200x100 images: 0.5 % is 100 px^2, 2.5 % is 500 px^2.
# id: (annotations, vww, mlperf, vww-tfslim); None = dropped by the rule
CASES = {
    1: ([{"bbox": [0, 0, 10, 10]}], 0, None, 1),  # exactly 0.5 %: not "more than"
    2: ([{"bbox": [0, 0, 10, 10.5]}], 1, None, 1),  # just above 0.5 %
    3: ([{"bbox": [0, 0, 9.5, 10]}], 0, None, 0),  # just below
    4: ([{"bbox": [10, 10, 50, 50], "iscrowd": 1, "area": 300}], 1, 1, 1),  # crowd counts
    5: ([{"bbox": [195, 0, 20, 10]}], 0, None, 1),  # 200 px^2 box, 50 inside the frame
    6: ([{"bbox": [0, 0, 200, 100], "category": "dog"}], 0, 0, 0),
    7: ([], 0, 0, 0),  # no annotations at all
    8: ([{"bbox": [0, 0, 20, 25]}], 1, None, 1),  # exactly 2.5 %
    9: ([{"bbox": [0, 0, 20, 25.5]}], 1, 1, 1),
    10: ([{"bbox": [0, 0, 100, 100], "area": 50}], 1, 1, 0),  # big box, small segmentation
    11: ([{"bbox": [0, 0, 0, 50], "area": 0}], 0, 0, 0),  # degenerate box
    12: ([{"bbox": [0, 0, 5, 10]}, {"bbox": [50, 20, 60, 50]}], 1, 1, 1),
}
RULE_COLUMN = {"vww": 1, "mlperf": 2, "vww-tfslim": 3}


def _anns(image_id: int) -> list[dict]:
    return [dict(a, image_id=image_id) for a in CASES[image_id][0]]


@pytest.mark.parametrize("rule", sorted(RULE_COLUMN))
def test_label_rule_table(rule):
    for image_id, case in CASES.items():
        persons = [a for a in _anns(image_id) if a.get("category", "person") == "person"]
        for a in persons:
            a.setdefault("area", a["bbox"][2] * a["bbox"][3])
        got = label_image(persons, 200, 100, RULES[rule])
        assert got == case[RULE_COLUMN[rule]], (rule, image_id)


def test_threshold_on_a_coco_sized_image():
    # 640x480: 0.5 % is exactly 1536 px^2 = 48x32
    assert label_image([{"bbox": [0, 0, 48, 32]}], 640, 480, RULES["vww"]) == 0  # 1536 = 0.5 %
    assert label_image([{"bbox": [0, 0, 48, 32.000001]}], 640, 480, RULES["vww"]) == 1


@pytest.fixture()
def coco(tmp_path):
    images = [{"id": i, "width": 200, "height": 100} for i in CASES]
    images.append({"id": 13, "width": 200, "height": 100, "write": False})  # file missing
    anns = [a for i in CASES for a in _anns(i)] + [{"image_id": 13, "bbox": [0, 0, 50, 50]}]
    return write_coco(tmp_path / "coco", images, anns), tmp_path / "coco"


@pytest.mark.parametrize("rule", ["vww", "mlperf"])
def test_build_labels_follow_the_rule(coco, tmp_path, rule):
    ann, images = coco
    manifest_path = build_coco([ann], [images], tmp_path / "out", rule, BuildOptions(size=32))
    m = load_manifest(manifest_path)
    got = {int(r["source_id"]): r["label"] for r in m["images"]}
    want = {i: c[RULE_COLUMN[rule]] for i, c in CASES.items() if c[RULE_COLUMN[rule]] is not None}
    assert got == want
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    skipped = {int(s["source_id"]): s["reason"] for s in report["skipped"]}
    dropped = {i for i, c in CASES.items() if c[RULE_COLUMN[rule]] is None}
    assert skipped == {13: "missing", **{i: "small_person_only" for i in dropped}}
    assert m["rule"]["name"] == rule
    card = (tmp_path / "out" / "DATASET_CARD.md").read_text()
    assert "missing: 1" in card and rule in card


def test_manifest_rows_carry_provenance_and_pixel_hashes(coco, tmp_path):
    ann, images = coco
    out = tmp_path / "out"
    manifest_path = build_coco([ann], [images], out, "vww", BuildOptions(size=32, channels=3))
    m = load_manifest(manifest_path)
    assert m["sources"][0]["sha256"] == hashlib.sha256(ann.read_bytes()).hexdigest()
    assert m["size"] == 32 and m["channels"] == 3 and m["decoder"].startswith("Pillow")
    by_id = {r["id"]: r for r in m["images"]}
    for split in ("train", "val", "test"):
        data = load_arrays(manifest_path, split)
        for image_id, pixels in zip(data["ids"], data["images"]):
            row = by_id[str(image_id)]
            assert row["split"] == split == assign_split(row["id"], 0.1, 0.1)
            assert row["sha256"] == pixels_sha256(pixels)
            src = images / f"img_{int(row['source_id']):06d}.jpg"
            assert row["source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
            assert row["licence"].startswith("Attribution License (http")
            assert row["contributor"] is None
            assert row["source"] == f"http://farm.example/{row['source_id']}.jpg"
            assert (out / row["path"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    x, y = load_split(manifest_path, "train")
    assert x.dtype == np.uint8 and x.shape[1:] == (32, 32, 3) and y.dtype == np.int64


def test_coco2014_layout_two_annotation_files(tmp_path):
    root = tmp_path / "coco"
    tr = write_coco(
        root,
        [{"id": 9, "width": 64, "height": 48, "file_name": "COCO_train2014_000000000009.jpg"}],
        [{"image_id": 9, "bbox": [0, 0, 30, 30]}],
        "instances_train2014.json",
        image_dir="train2014",
    )
    va = write_coco(
        root,
        [{"id": 42, "width": 64, "height": 48, "file_name": "COCO_val2014_000000000042.jpg"}],
        [],
        "instances_val2014.json",
        image_dir="val2014",
    )
    m = load_manifest(build_coco([tr, va], [root], tmp_path / "out", opts=BuildOptions(size=16)))
    assert {r["id"]: r["label"] for r in m["images"]} == {"coco-9": 1, "coco-42": 0}


def test_split_is_stable_and_roughly_proportional():
    ids = [f"coco-{i}" for i in range(20000)]
    splits = [assign_split(i, 0.1, 0.15) for i in ids]
    assert splits == [assign_split(i, 0.1, 0.15) for i in ids]
    share = {s: splits.count(s) / len(ids) for s in ("train", "val", "test")}
    assert abs(share["val"] - 0.1) < 0.01 and abs(share["test"] - 0.15) < 0.01
    with pytest.raises(ValueError):
        assign_split("x", 0.6, 0.5)


def test_unknown_rule_and_missing_person_category(tmp_path):
    with pytest.raises(ValueError, match="unknown rule"):
        build_coco([], [], tmp_path, rule="nope")
    bad = tmp_path / "x.json"
    bad.write_text(
        json.dumps({"images": [], "annotations": [], "categories": [{"id": 1, "name": "cat"}]})
    )
    with pytest.raises(UserError, match="person"):
        build_coco([bad], [tmp_path], tmp_path / "out")
