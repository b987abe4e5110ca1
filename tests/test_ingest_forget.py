"""forget removes exactly what was asked, leaves no trace of it, and flags stale models."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ingest_fixtures import build, make_folders

from peekless.errors import UserError
from training.ingest.folders import contributor_id
from training.ingest.forget import digests_of_file, forget
from training.ingest.manifest import SPLITS, load_arrays, load_manifest, manifest_sha256
from training.ingest.removals import is_model_stale
from training.ingest.verify import verify_dataset


@pytest.fixture()
def dataset(tmp_path):
    make_folders(tmp_path / "in")
    build(tmp_path / "in", tmp_path / "out")
    return tmp_path / "out"


def _state(out):
    """Rows by id, pixels by id and npz hashes by split."""
    manifest_path = out / "manifest.json"
    m = load_manifest(manifest_path)
    pixels = {}
    for split in SPLITS:
        data = load_arrays(manifest_path, split)
        pixels.update(zip((str(i) for i in data["ids"]), data["images"]))
    return (
        {r["id"]: r for r in m["images"]},
        pixels,
        {s: f["sha256"] for s, f in m["files"].items()},
    )


def _assert_removed_exactly(out, before, gone_ids):
    rows0, pixels0, files0 = before
    rows1, pixels1, files1 = _state(out)
    assert set(rows1) == set(rows0) - gone_ids
    for image_id, row in rows1.items():
        assert row == rows0[image_id]  # split, label, hashes: nothing else moved
        assert np.array_equal(pixels1[image_id], pixels0[image_id])
        assert (out / row["path"]).exists()
    for image_id in gone_ids:
        assert not (out / rows0[image_id]["path"]).exists()
    touched = {rows0[i]["split"] for i in gone_ids}
    for split in SPLITS:
        assert (files1[split] == files0[split]) == (split not in touched), split
    assert verify_dataset(out) == []


def test_forget_contributor(dataset):
    before = _state(dataset)
    old = manifest_sha256(dataset / "manifest.json")
    alice = {i for i, r in before[0].items() if r["contributor"] == contributor_id("alice")}
    assert len(alice) == 3
    result = forget(dataset, contributor="alice")
    assert result.removed == 3 and result.old_manifest_sha256 == old
    assert result.new_manifest_sha256 == manifest_sha256(dataset / "manifest.json") != old
    _assert_removed_exactly(dataset, before, alice)

    # the record holds no removed content: no name, no ids, no paths
    for name in ("removals.json", "stale_models.json", "DATASET_CARD.md", "report.json"):
        text = (dataset / name).read_text()
        assert "alice" not in text
        assert not any(i in text for i in alice)
    record = json.loads((dataset / "removals.json").read_text())["removals"][0]
    assert record["request"] == "contributor" and record["removed"] == 3
    assert record["old_manifest_sha256"] == old

    assert is_model_stale(old, dataset)
    assert not is_model_stale(result.new_manifest_sha256, dataset)
    card = {"model": "x", "dataset": {"manifest_sha256": old}}
    assert is_model_stale(card, dataset)
    (dataset / "history.json").write_text(json.dumps({"runs": [card]}))
    assert is_model_stale(dataset / "history.json", dataset)
    with pytest.raises(ValueError, match="manifest_sha256"):
        is_model_stale({"model": "x"}, dataset)


def test_forget_by_pixel_hash_then_by_a_copy_of_the_file(dataset, tmp_path):
    before = _state(dataset)
    victim = min(before[0].values(), key=lambda r: r["id"])
    assert forget(dataset, sha256=victim["sha256"].upper()).removed == 1
    _assert_removed_exactly(dataset, before, {victim["id"]})

    before = _state(dataset)
    copy = tmp_path / "in" / "person" / "bob" / "b1.jpg"  # the requester's own copy
    digests = digests_of_file(copy, dataset)
    bob = {i for i, r in before[0].items() if r["contributor"] == contributor_id("bob")}
    assert forget(dataset, sha256=digests).removed == 1
    _assert_removed_exactly(dataset, before, bob)
    assert len(json.loads((dataset / "removals.json").read_text())["removals"]) == 2
    assert (
        len(json.loads((dataset / "stale_models.json").read_text())["stale_manifest_sha256"]) == 2
    )


def test_forget_nothing_matched_changes_nothing(dataset):
    old = (dataset / "manifest.json").read_bytes()
    result = forget(dataset, contributor="nobody")
    assert result.removed == 0 and result.new_manifest_sha256 == result.old_manifest_sha256
    assert (dataset / "manifest.json").read_bytes() == old
    assert not (dataset / "removals.json").exists()
    with pytest.raises(UserError):
        forget(dataset)


def test_rebuild_keeps_removed_images_out(dataset, tmp_path):
    forget(dataset, contributor="alice")
    after = _state(dataset)[0]
    build(tmp_path / "in", dataset)
    rebuilt = _state(dataset)[0]
    assert rebuilt == after
    report = json.loads((dataset / "report.json").read_text())
    assert report["skipped_by_reason"]["removed_on_request"] == 3
    assert "alice" not in (dataset / "report.json").read_text()
