"""Quantization takes any single-input Keras model and pins the int8 input mapping
(``pixel - 128``, scale 1/255) whatever the calibration images' range (issue 12)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED

MLPERF_H5 = SHARED / "models" / "mlperf_vww_96.h5"


def dim_dataset(root: Path, n: int, size: int, channels: int = 1, seed: int = 3) -> Path:
    """A synthetic dataset whose pixels are scaled into 20..220: like downscaled photos,
    no image reaches 0 or 255. The manifest's file hashes are rewritten to match."""
    from training.synthetic import build_dataset

    manifest_path = build_dataset(root, n=n, seed=seed, size=size, channels=channels)
    manifest = json.loads(manifest_path.read_text())
    for entry in manifest["files"].values():
        path = root / entry["path"]
        with np.load(path) as z:
            data = {k: z[k] for k in z.files}
        data["images"] = (20 + data["images"].astype(np.uint16) * 200 // 255).astype(np.uint8)
        np.savez(path, **data)
        entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest_path


def input_quantization(tflite: Path) -> tuple[float, int]:
    from training.quantize import _interpreter

    (inp,) = _interpreter(tflite).get_input_details()
    return inp["quantization"]


def test_pin_input_range_changes_one_value_per_missing_end_and_nothing_else():
    from training.quantize import pin_input_range

    rng = np.random.default_rng(0)
    images = rng.integers(30, 200, (4, 8, 8, 3), dtype=np.uint8)
    before = images.copy()
    pinned, record = pin_input_range(images)
    assert np.array_equal(images, before)  # the caller's array is left alone
    assert pinned.min() == 0 and pinned.max() == 255
    changed = np.argwhere(pinned != images)
    assert len(changed) == 2 and set(changed[:, 0]) == {0}  # two values, both in image 0
    assert record["calibration_pixel_range"] == [int(images.min()), int(images.max())]

    full = images.copy()
    full[1, 0, 0, 0], full[2, 1, 1, 1] = 0, 255
    same, record = pin_input_range(full)
    assert np.array_equal(same, full) and record["pinned"] == "not needed"


@pytest.fixture(scope="module")
def dim_gray(tmp_path_factory) -> Path:
    return dim_dataset(tmp_path_factory.mktemp("dim") / "data", n=40, size=48)


def _tiny_model(path: Path, channels: int, list_input: bool) -> Path:
    import keras

    keras.utils.set_random_seed(1)
    inp = keras.Input((48, 48, channels))
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(inp)
    x = keras.layers.AveragePooling2D(x.shape[1:3])(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(2)(x)
    model = keras.Model([inp] if list_input else inp, out)
    model.save(path)
    return path


def test_images_that_never_reach_255_still_quantize_to_pixel_minus_128(dim_gray, tmp_path):
    from training.quantize import quantize

    model = _tiny_model(tmp_path / "m.keras", channels=1, list_input=True)  # a list input too
    tflite = quantize(model, dim_gray, tmp_path / "m.tflite", calibration_count=10)
    scale, zero_point = input_quantization(tflite)
    assert scale == pytest.approx(1 / 255, rel=1e-6) and zero_point == -128
    record = json.loads(tflite.with_suffix(".calibration.json").read_text())
    low, high = record["input_range"]["calibration_pixel_range"]
    assert 20 <= low and high <= 220
    assert "-> 255" in record["input_range"]["pinned"]


def test_quantize_mistakes_are_one_line_user_errors(dim_gray, tmp_path, capsys):
    import keras

    from peekless.cli import main

    assert main(["quantize", str(tmp_path / "none.keras"), str(dim_gray), "--out",
                 str(tmp_path / "x.tflite")]) == 2  # fmt: skip
    assert "none.keras: no such model file" in capsys.readouterr().err

    rgb = _tiny_model(tmp_path / "rgb.keras", channels=3, list_input=False)
    assert main(["quantize", str(rgb), str(dim_gray), "--out", str(tmp_path / "x.tflite")]) == 2
    err = capsys.readouterr().err
    assert "takes (48, 48, 3) images" in err and "(48, 48, 1)" in err and "Traceback" not in err

    a, b = keras.Input((48, 48, 1)), keras.Input((48, 48, 1))
    two = keras.Model([a, b], keras.layers.Dense(2)(keras.layers.Flatten()(a + b)))
    two.save(tmp_path / "two.keras")
    assert main(["quantize", str(tmp_path / "two.keras"), str(dim_gray), "--out",
                 str(tmp_path / "x.tflite")]) == 2  # fmt: skip
    assert "2 inputs" in capsys.readouterr().err
    assert not (tmp_path / "x.tflite").exists()


@pytest.mark.slow
def test_train_on_images_that_never_reach_255_ends_with_a_model(dim_gray, tmp_path, capsys):
    from peekless.cli import main

    out = tmp_path / "run"
    rc = main(["train", str(dim_gray), "--out", str(out), "--epochs", "1", "--batch-size", "16",
               "--no-membership"])  # fmt: skip
    assert rc == 0
    assert input_quantization(out / "model_int8.tflite") == pytest.approx((1 / 255, -128))
    assert (out / "model_card.json").is_file()


@pytest.fixture(scope="module")
def mlperf_h5() -> Path:
    if not MLPERF_H5.exists():
        pytest.skip(f"reference model missing: {MLPERF_H5} (../shared beside the checkout)")
    return MLPERF_H5


def test_the_mlperf_h5_loads_and_its_gray_and_logits_forms_are_exact(mlperf_h5, tmp_path):
    import keras

    from training.pretrained_load import gray_model, load_keras_model, logits_model

    model = load_keras_model(mlperf_h5)
    assert model.count_params() == 221_794 and isinstance(model.input, list)
    x = np.random.default_rng(0).random((3, 96, 96, 3)).astype(np.float32)
    probs = model.predict(x, verbose=0)
    logits = logits_model(model)
    z = logits.predict(x, verbose=0)
    assert np.allclose(np.exp(z) / np.exp(z).sum(1, keepdims=True), probs, atol=1e-6)
    assert not np.allclose(z.sum(1), 1.0)  # really logits
    gray = gray_model(logits)
    g = x[..., :1]
    assert gray.input_shape == (None, 96, 96, 1)
    assert np.allclose(gray.predict(g, verbose=0), logits.predict(np.repeat(g, 3, 3), verbose=0),
                       atol=1e-4)  # fmt: skip
    logits.save(tmp_path / "l.keras")  # saves and loads without the loader's shim
    keras.models.load_model(tmp_path / "l.keras")


@pytest.mark.slow
def test_peekless_quantize_takes_the_mlperf_h5(mlperf_h5, tmp_path, capsys):
    from peekless.cli import main
    from training.quantize import ALLOWED_OPS, operator_names

    manifest = dim_dataset(tmp_path / "rgb", n=60, size=96, channels=3, seed=4)
    out = tmp_path / "mlperf.tflite"
    assert main(["quantize", str(mlperf_h5), str(manifest), "--out", str(out)]) == 0
    assert input_quantization(out) == pytest.approx((1 / 255, -128))
    assert set(operator_names(out)) <= ALLOWED_OPS
    report = json.loads((tmp_path / "quantize_report.json").read_text())
    assert report["agreement"] >= 0.85, report  # float vs int8 on the test split
