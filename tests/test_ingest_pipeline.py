"""tf.data batches from any manifest; synthetic datasets load and forget like real ones."""

from __future__ import annotations

import numpy as np
import pytest
from ingest_fixtures import build, make_folders

from training import synthetic
from training.ingest.card import write_card
from training.ingest.forget import forget
from training.ingest.manifest import load_split, load_split_ids
from training.ingest.pipeline import make_dataset
from training.ingest.verify import verify_dataset
from training.preprocess import to_float_input


def _collect(ds):
    xs, ys = zip(*((x.numpy(), y.numpy()) for x, y in ds))
    return np.concatenate(xs), np.concatenate(ys)


def _sorted_rows(x, y):
    order = sorted(range(len(y)), key=lambda i: (x[i].tobytes(), int(y[i])))
    return x[order], y[order]


@pytest.fixture(scope="module")
def folder_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    make_folders(root / "in")
    return build(root / "in", root / "out", contributor="carol")


def test_batches_from_arrays_and_from_files_agree(folder_dataset):
    images, labels = load_split(folder_dataset, "train")
    assert len(labels) >= 4
    ds = make_dataset(folder_dataset, "train", batch_size=3, seed=1)
    x, y = _collect(ds)
    assert x.dtype == np.float32 and y.dtype == np.int64 and x.shape[1:] == (24, 24, 1)
    # one epoch is a permutation of the split, scaled exactly as training/preprocess.py
    want = _sorted_rows(to_float_input(images), labels)
    for got in (
        _sorted_rows(x, y),
        _sorted_rows(
            *_collect(make_dataset(folder_dataset, "train", batch_size=3, seed=1, from_files=True))
        ),
    ):
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    # the same seed gives the same order
    x2, y2 = _collect(make_dataset(folder_dataset, "train", batch_size=3, seed=1))
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    u8, _ = _collect(make_dataset(folder_dataset, "train", 5, shuffle=False, float_input=False))
    assert u8.dtype == np.uint8 and np.array_equal(u8, images)


def test_synthetic_dataset_loads_pipes_and_forgets(tmp_path):
    out = tmp_path / "syn"
    manifest_path = synthetic.build_dataset(out, n=12, seed=3, size=32, channels=1)
    images, labels = load_split(manifest_path, "train")
    ref_images, ref_labels = synthetic.load_split(manifest_path, "train")
    assert np.array_equal(images, ref_images) and np.array_equal(labels, ref_labels)
    x, _ = _collect(make_dataset(manifest_path, "train", batch_size=4))
    assert x.shape == (len(labels), 32, 32, 1)
    with pytest.raises(ValueError, match="PNG paths"):
        make_dataset(manifest_path, "train", from_files=True)

    assert "no substitute for real data" in write_card(out).read_text()
    victim = load_split_ids(manifest_path, "train")[0]
    sha = next(
        r["sha256"] for r in synthetic.load_manifest(manifest_path)["images"] if r["id"] == victim
    )
    assert forget(out, sha256=sha).removed == 1
    assert victim not in synthetic.load_split_ids(manifest_path, "train")  # its loader agrees
    assert len(synthetic.load_split(manifest_path, "train")[1]) == len(labels) - 1
    assert verify_dataset(out) == []
