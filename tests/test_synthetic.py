"""The synthetic doorbell generator: determinism, labels, variety and dataset files."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from training.synthetic import (
    DATASET_NAME,
    GENERATOR_VERSION,
    LICENCE,
    MIN_PERSON_BOX_FRACTION,
    build_dataset,
    generate_scenes,
    load_split,
    load_split_ids,
    manifest_sha256,
    render_scene,
)


@pytest.fixture(scope="module")
def scenes():
    """120 gray scenes of seed 0 (generated once for the module)."""
    return generate_scenes(120, seed=0)


def test_shapes_and_dtypes(scenes):
    images, labels = scenes
    assert images.shape == (120, 96, 96, 1) and images.dtype == np.uint8
    assert labels.shape == (120,) and labels.dtype == np.int64
    assert set(np.unique(labels)) == {0, 1}


def test_same_seed_gives_identical_bytes(scenes):
    images, labels = generate_scenes(10, seed=0)
    assert images.tobytes() == scenes[0][:10].tobytes()
    assert labels.tobytes() == scenes[1][:10].tobytes()


def test_scene_does_not_depend_on_n(scenes):
    few, few_labels = generate_scenes(3, seed=0)
    assert np.array_equal(few, scenes[0][:3]) and np.array_equal(few_labels, scenes[1][:3])
    assert np.array_equal(render_scene(0, 57).image, scenes[0][57])


def test_different_seeds_give_different_scenes(scenes):
    other, _ = generate_scenes(10, seed=1)
    for a, b in zip(other, scenes[0][:10]):
        assert not np.array_equal(a, b)


def test_labels_roughly_balanced(scenes):
    assert 0.35 <= scenes[1].mean() <= 0.65


def test_scenes_vary(scenes):
    images = scenes[0].reshape(len(scenes[0]), -1).astype(np.float64)
    means, stds = images.mean(axis=1), images.std(axis=1)
    assert means.std() > 10.0, "scene brightness should vary (day/dusk/night/IR)"
    assert stds.min() > 3.0, "every scene should have texture"
    assert len({hashlib.sha256(im.tobytes()).hexdigest() for im in scenes[0]}) == len(images)
    # dark and saturated pixels both occur (the int8 input scale 1/255 relies on 255)
    assert images.max() == 255 and images.min() == 0


def test_backgrounds_lighting_and_distractors_cover_both_classes():
    metas = [render_scene(3, i, size=64) for i in range(80)]
    assert {m.background for m in metas} == {"porch", "door", "wall"}
    assert {m.lighting for m in metas} == {"day", "dusk", "night", "ir"}
    for label in (0, 1):
        kinds = {k for m in metas if m.label == label for k in m.objects}
        assert {"pet", "parcel", "plant"} <= kinds, (label, kinds)


def test_positive_scenes_contain_a_visible_person_and_negatives_none():
    for i in range(40):
        scene = render_scene(5, i)
        if scene.label == 1:
            assert "person" in scene.objects
            y0, x0, y1, x1 = scene.person_box
            assert 0 <= y0 < y1 <= 96 and 0 <= x0 < x1 <= 96
            assert scene.person_box_fraction >= MIN_PERSON_BOX_FRACTION
            assert scene.person_box_fraction == pytest.approx((y1 - y0) * (x1 - x0) / 96**2)
            # the person stands out from the scene: the box differs from the rest
            box = scene.image[y0:y1, x0:x1].astype(np.float64)
            assert box.std() > 2.0
        else:
            assert "person" not in scene.objects
            assert scene.person_box is None and scene.person_box_fraction == 0.0


def test_rgb_mode_is_coloured_and_gray_is_its_luminance():
    rgb, labels_rgb = generate_scenes(6, seed=2, channels=3)
    gray, labels_gray = generate_scenes(6, seed=2, channels=1)
    assert rgb.shape == (6, 96, 96, 3) and np.array_equal(labels_rgb, labels_gray)
    spread = np.abs(rgb.astype(int) - rgb.mean(axis=3, keepdims=True)).mean()
    assert spread > 2.0, "RGB scenes should have colour"
    luma = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    # same scene, independent sensor noise per mode
    assert np.abs(luma - gray[..., 0]).mean() < 6.0


def test_other_sizes():
    images, _ = generate_scenes(2, seed=0, size=64, channels=3)
    assert images.shape == (2, 64, 64, 3)
    with pytest.raises(ValueError):
        generate_scenes(1, seed=0, channels=2)


def test_the_smallest_size_renders_a_car_on_a_thin_street():
    from training.synthetic import render_scene

    scene = render_scene(0, 22, 32, 1)  # scene 22 of seed 0 drew from an empty range at 32 px
    assert scene.image.shape == (32, 32, 1) and scene.label in (0, 1)


def test_manifest_round_trip(tmp_path):
    manifest_path = build_dataset(tmp_path / "ds", n=40, seed=7)
    manifest = json.loads(manifest_path.read_text())
    assert manifest["name"] == DATASET_NAME
    assert manifest["generator_version"] == GENERATOR_VERSION
    assert manifest["licence"] == LICENCE
    assert (manifest["seed"], manifest["size"], manifest["channels"]) == (7, 96, 1)
    assert manifest["rule"]
    assert manifest_sha256(manifest_path) == hashlib.sha256(manifest_path.read_bytes()).hexdigest()

    images, labels = generate_scenes(40, seed=7)
    by_id = {e["id"]: e for e in manifest["images"]}
    assert len(by_id) == 40
    total = 0
    for split in ("train", "val", "test"):
        x, y = load_split(manifest_path, split)
        ids = load_split_ids(manifest_path, split)
        assert x.dtype == np.uint8 and y.dtype == np.int64 and len(x) == len(y) == len(ids)
        counts = manifest["counts"][split]
        assert (counts["person"], counts["no_person"]) == (int((y == 1).sum()), int((y == 0).sum()))
        assert manifest["files"][split]["path"] == f"{split}.npz"
        for img, label, image_id in zip(x, y, ids):
            entry = by_id[image_id]
            index = int(image_id.rsplit("-", 1)[1])
            assert image_id == f"syn-7-{index}" and entry["split"] == split
            assert entry["label"] == label == labels[index]
            assert np.array_equal(img, images[index])
            assert entry["sha256"] == hashlib.sha256(img.tobytes()).hexdigest()
        total += len(x)
    assert total == 40
    assert len(load_split(manifest_path, "test")[0]) == 6  # 15 % of 40, stratified


def test_tampered_split_is_refused_and_named(tmp_path):
    manifest_path = build_dataset(tmp_path / "ds", n=20, seed=1)
    x, y = load_split(manifest_path, "val")
    x = x.copy()
    x[0, 0, 0, 0] ^= 1
    np.savez(tmp_path / "ds" / "val.npz", images=x, labels=y)
    with pytest.raises(ValueError, match="val.npz"):
        load_split(manifest_path, "val")
    load_split(manifest_path, "train")  # the others still load
    with pytest.raises(ValueError, match="split"):
        load_split(manifest_path, "holdout")
