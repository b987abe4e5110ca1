"""forget removes exactly what was asked, leaves no trace of it, and flags stale models."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ingest_fixtures import (
    STORE_FOR_ORIENTATION,
    build,
    encode,
    jpeg_with_metadata,
    make_folders,
    pattern,
    quadrants,
)
from PIL import Image, ImageOps

from peekless.cli import main
from peekless.errors import UserError
from training.ingest import removals
from training.ingest.folders import contributor_id
from training.ingest.forget import NEAR_MEAN_LEVELS, digests_of_file, forget, read_copy
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


# --- matching by picture content, and what a removal leaves behind ---------------------


def _photo_dataset(tmp_path):
    """A JPEG photo stored sideways with EXIF orientation 6 and metadata, among others."""
    root = tmp_path / "in"
    upright = quadrants(120, 160)
    upright[30:60, 40:90] = pattern(30, 50, seed=3)  # detail, so lookalikes are unlikely
    laden, _ = jpeg_with_metadata(np.ascontiguousarray(STORE_FOR_ORIENTATION[6](upright)), 6)
    (root / "person").mkdir(parents=True)
    (root / "person" / "visitor.jpg").write_bytes(laden)
    for i in range(4):
        (root / "no_person" / f"n{i}.png").parent.mkdir(parents=True, exist_ok=True)
        (root / "no_person" / f"n{i}.png").write_bytes(encode(pattern(40, 40, 20 + i), "PNG"))
        (root / "person" / f"p{i}.png").write_bytes(encode(pattern(40, 40, 30 + i), "PNG"))
    build(root, tmp_path / "out")
    return root, tmp_path / "out"


def _decoded_upright(path):
    """What an image viewer shows, as an array: the JPEG decoded and turned upright."""
    with Image.open(path) as img:
        return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))


def test_forget_by_a_lossless_copy_with_other_metadata_and_the_rotation_applied(tmp_path):
    root, out = _photo_dataset(tmp_path)
    copy = tmp_path / "copy_they_sent.png"  # re-saved as PNG: no EXIF, rotation applied
    copy.write_bytes(encode(_decoded_upright(root / "person" / "visitor.jpg"), "PNG"))
    assert copy.read_bytes() != (root / "person" / "visitor.jpg").read_bytes()
    before = _state(out)
    result = forget(out, copies=[read_copy(copy, out)])
    assert result.removed == 1 and result.near == 0
    gone = set(before[0]) - set(_state(out)[0])
    assert len(gone) == 1
    _assert_removed_exactly(out, before, gone)

    # a rebuild from a folder that now holds the lossless copy instead keeps it out too
    (root / "person" / "visitor.jpg").unlink()
    (root / "person" / "visitor_resaved.png").write_bytes(copy.read_bytes())
    after = _state(out)[0]
    build(root, out)
    assert _state(out)[0] == after
    assert json.loads((out / "report.json").read_text())["skipped_by_reason"] == {
        "removed_on_request": 1
    }


def test_a_lossy_copy_finds_near_matches_and_removes_them_only_when_asked(tmp_path, capsys):
    root, out = _photo_dataset(tmp_path)
    lossy = tmp_path / "screenshot.jpg"
    lossy.write_bytes(
        encode(_decoded_upright(root / "person" / "visitor.jpg")[::2, ::2], "JPEG", quality=70)
    )
    before = _state(out)
    result = forget(out, copies=[read_copy(lossy, out)])
    assert (result.removed, result.near) == (0, 1) and 0 < result.nearest <= NEAR_MEAN_LEVELS
    assert _state(out)[0] == before[0]  # counted, not removed
    assert main(["dataset", "forget", str(out), "--image", str(lossy)]) == 1
    err = capsys.readouterr().err
    assert "1 image(s) are near the --image copy" in err and "add --near" in err
    assert _state(out)[0] == before[0]
    result = forget(out, copies=[read_copy(lossy, out)], near=True)
    assert result.removed == 1
    record = json.loads((out / "removals.json").read_text())["removals"][-1]
    assert record["request"] == "image+near"


def test_removal_records_cannot_be_read_back_to_what_was_removed(dataset, tmp_path):
    before = _state(dataset)[0]
    forget(dataset, contributor="alice")
    gone = [r for r in before.values() if r["contributor"] == contributor_id("alice")]
    assert len(gone) == 3
    written = ""
    for name in ("removals.json", "stale_models.json", "DATASET_CARD.md", "report.json"):
        written += (dataset / name).read_text()
    for row in gone:
        for value in (row["id"], row["sha256"], row["content_sha256"], row["source_sha256"]):
            assert value not in written
            assert value.split("-")[-1][:16] not in written  # an id is a digest's prefix
    data = json.loads((dataset / "removals.json").read_text())
    assert set(data["removals"][0]) == {
        "date", "request", "removed", "removed_by_split", "old_manifest_sha256",
        "new_manifest_sha256",
    }  # fmt: skip
    # the keyed blocklist still stops a copy of the very picture coming back
    blocked = removals.blocklist(dataset)
    assert all(row["content_sha256"] in blocked for row in gone)
    assert before[next(iter(set(before) - {r["id"] for r in gone}))]["sha256"] not in blocked


def test_an_older_plain_blocklist_is_read_and_rewritten_keyed(dataset):
    rows = _state(dataset)[0]
    victim = next(iter(rows.values()))
    legacy = {"removals": [], "blocklist": [victim["sha256"]]}  # as builder 1.0.0 wrote it
    (dataset / "removals.json").write_text(json.dumps(legacy))
    assert victim["sha256"] in removals.blocklist(dataset)
    other = next(r for r in rows.values() if r["id"] != victim["id"])
    forget(dataset, sha256=other["sha256"])
    text = (dataset / "removals.json").read_text()
    assert victim["sha256"] not in text and other["sha256"] not in text
    assert victim["sha256"] in removals.blocklist(dataset)
    assert other["sha256"] in removals.blocklist(dataset)


def test_forget_refuses_what_it_cannot_act_on(dataset, tmp_path):
    with pytest.raises(UserError, match="no dataset here"):
        forget(tmp_path / "nowhere", contributor="alice")
    with pytest.raises(UserError, match="not a sha256"):
        forget(dataset, sha256="img-1234")
    with pytest.raises(UserError, match="blank"):
        forget(dataset, contributor="  ")
    with pytest.raises(UserError, match="no such file|does not exist"):
        read_copy(tmp_path / "missing.jpg", dataset)
