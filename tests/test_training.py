"""Preprocessing, the model definition, and a tiny train -> quantize -> LiteRT run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from peekless.errors import UserError
from training.preprocess import INPUT_SCALE, INPUT_ZERO_POINT, to_float_input, to_model_input

ALLOWED_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "RESHAPE", "FULLY_CONNECTED"}


def test_to_model_input_is_pixel_minus_128():
    pixels = np.array([[0, 1, 127, 128, 129, 254, 255]], dtype=np.uint8)
    out = to_model_input(pixels)
    assert out.dtype == np.int8 and out.shape == pixels.shape
    assert out.tolist() == [[-128, -127, -1, 0, 1, 126, 127]]
    every = np.arange(256, dtype=np.uint8)
    assert np.array_equal(to_model_input(every).astype(int), every.astype(int) - 128)


def test_to_float_input_is_pixel_over_255():
    pixels = np.array([0, 51, 255], dtype=np.uint8)
    out = to_float_input(pixels)
    assert out.dtype == np.float32
    assert out.tolist() == pytest.approx([0.0, 0.2, 1.0])


def test_float_and_int8_inputs_agree_through_the_quantisation_parameters():
    pixels = np.arange(256, dtype=np.uint8)
    requantised = np.round(to_float_input(pixels) / INPUT_SCALE) + INPUT_ZERO_POINT
    assert np.array_equal(requantised.astype(np.int8), to_model_input(pixels))


def test_preprocessing_refuses_non_uint8():
    with pytest.raises(TypeError):
        to_model_input(np.zeros(3, dtype=np.float32))
    with pytest.raises(TypeError):
        to_float_input(np.zeros(3, dtype=np.int16))


def test_model_uses_only_allowed_layers_and_outputs_logits():
    from training.model import ALLOWED_LAYERS, MODEL_FAMILY, build_model

    model = build_model()
    kinds = {type(layer).__name__ for layer in model.layers}
    assert kinds <= set(ALLOWED_LAYERS), kinds - set(ALLOWED_LAYERS)
    assert {"Conv2D", "DepthwiseConv2D", "AveragePooling2D", "Flatten", "Dense"} <= kinds
    assert model.name == MODEL_FAMILY
    assert tuple(model.input_shape) == (None, 96, 96, 1)
    assert tuple(model.output_shape) == (None, 2)
    assert model.layers[-1].get_config()["activation"] == "linear"  # logits, no softmax
    pool = next(layer for layer in model.layers if type(layer).__name__ == "AveragePooling2D")
    assert tuple(pool.input.shape[1:3]) == tuple(pool.get_config()["pool_size"])  # full size
    for layer in model.layers:
        if type(layer).__name__ in ("Conv2D", "DepthwiseConv2D"):
            assert layer.padding == "same", layer.name


def test_model_is_seeded_and_scales_with_width():
    from training.model import build_model

    a, b, c = build_model(seed=3), build_model(seed=3), build_model(seed=4)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        assert np.array_equal(wa, wb)
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a.get_weights(), c.get_weights()))
    assert build_model(width=0.5).count_params() > a.count_params()
    assert build_model(input_shape=(64, 64, 3)).output_shape == (None, 2)


def test_augment_keeps_shape_and_range():
    from training.train import augment

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (8, 96, 96, 1), dtype=np.uint8)
    out = augment(pixels, rng)
    assert out.shape == pixels.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.array_equal(
        augment(pixels, np.random.default_rng(5)), augment(pixels, np.random.default_rng(5))
    )
    assert not np.array_equal(out, augment(pixels, np.random.default_rng(6)))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Build a 300-image dataset, train one epoch at width 0.25, quantise it."""
    from training.quantize import quantize
    from training.synthetic import build_dataset
    from training.train import train

    root = tmp_path_factory.mktemp("pipeline")
    manifest = build_dataset(root / "data", n=300, seed=11)
    model = train(manifest, root / "run", epochs=1, batch_size=32, seed=0, width=0.25)
    tflite = quantize(model, manifest, root / "run" / "model_int8.tflite", calibration_count=40)
    return manifest, model, tflite


@pytest.mark.slow
def test_training_writes_model_and_history(pipeline):
    _, model, _ = pipeline
    assert model.name == "model.keras" and model.is_file()
    history = json.loads((model.parent / "training_history.json").read_text())
    assert len(history["epochs"]) == 1
    epoch = history["epochs"][0]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert np.isfinite(epoch[key])
    assert history["config"]["seed"] == 0 and history["dataset"]["manifest_sha256"]
    recorded = history["dataset"]["manifest"]  # relative to the run: no home folder in it
    assert not Path(recorded).is_absolute()
    assert (model.parent / recorded).resolve() == Path(pipeline[0]).resolve()


@pytest.mark.slow
def test_evaluate_keras_reports_an_accuracy(pipeline):
    from training.train import evaluate_keras

    manifest, model, _ = pipeline
    assert 0.0 <= evaluate_keras(model, manifest, "test") <= 1.0


@pytest.mark.slow
def test_quantized_model_has_the_int8_interface_and_allowed_ops(pipeline):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    from training.quantize import operator_names

    _, _, tflite = pipeline
    interpreter = Interpreter(
        model_path=str(tflite), experimental_op_resolver_type=OpResolverType.BUILTIN_REF
    )
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8
    scale, zero_point = inp["quantization"]
    assert scale == pytest.approx(1 / 255, rel=1e-6) and zero_point == -128
    assert tuple(inp["shape"]) == (1, 96, 96, 1) and tuple(out["shape"]) == (1, 2)

    ops = operator_names(tflite)
    assert set(ops) <= ALLOWED_OPS, set(ops) - ALLOWED_OPS
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "FULLY_CONNECTED"} <= set(ops)
    interpreter_ops = {op["op_name"] for op in interpreter._get_ops_details()}
    assert interpreter_ops == set(ops)


@pytest.mark.slow
def test_calibration_set_is_pinned_and_balanced(pipeline):
    from training.synthetic import load_split

    manifest, _, tflite = pipeline
    record = json.loads(tflite.with_suffix(".calibration.json").read_text())
    assert "ids" not in record  # image ids would outlive a removal request
    assert record["count"] == 40 and len(record["indices"]) == 40 == len(set(record["indices"]))
    assert record["per_class"] == {"person": 20, "no_person": 20}
    _, labels = load_split(manifest, "train")
    assert sorted(labels[record["indices"]].tolist()) == [0] * 20 + [1] * 20


@pytest.mark.slow
def test_litert_reference_predictions(pipeline):
    from training.quantize import float_int8_agreement, int8_accuracy, litert_predict
    from training.synthetic import load_split

    manifest, model, tflite = pipeline
    images, _ = load_split(manifest, "test")
    inputs = to_model_input(images)
    outputs = litert_predict(tflite, inputs)
    assert outputs.shape == (len(images), 2) and outputs.dtype == np.int8
    assert np.array_equal(outputs, litert_predict(tflite, inputs))  # deterministic
    with pytest.raises(TypeError):
        litert_predict(tflite, images)  # uint8 pixels are not model input
    assert 0.0 <= int8_accuracy(tflite, manifest, "test") <= 1.0
    assert float_int8_agreement(model, tflite, manifest, "test") >= 0.8


@pytest.mark.slow
def test_float_model_is_refused_by_the_interface_check(pipeline, tmp_path):
    import keras
    import tensorflow as tf

    from training.quantize import QuantizationError, check_int8_interface

    _, model, _ = pipeline
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.models.load_model(model))
    path = tmp_path / "float.tflite"
    path.write_bytes(converter.convert())
    with pytest.raises(QuantizationError, match="input dtype is float32"):
        check_int8_interface(path)


# --- architectures and recipes ---------------------------------------------------------


@pytest.mark.parametrize("arch", ["doorbell_mobilenet", "mobilenet_v1"])
def test_every_architecture_uses_only_allowed_layers(arch):
    from training.model import ALLOWED_LAYERS, build_model

    model = build_model(input_shape=(64, 64, 3), arch=arch, seed=1)
    assert {type(layer).__name__ for layer in model.layers} <= set(ALLOWED_LAYERS)
    assert tuple(model.output_shape) == (None, 2)
    assert model.layers[-1].get_config()["activation"] == "linear"


def test_mobilenet_v1_is_the_mlperf_reference_architecture():
    from conftest import SHARED

    from training.model import build_model

    model = build_model(input_shape=(96, 96, 3), width=0.25, arch="mobilenet_v1")
    assert model.count_params() == 221_794  # the MLPerf Tiny VWW float model's count
    h5 = SHARED / "models" / "mlperf_vww_96.h5"
    if not h5.exists():
        pytest.skip(f"reference model missing: {h5}")
    import h5py

    with h5py.File(h5, "r") as f:
        group = f["model_weights"]
        shapes = [
            tuple(group[name][w].shape)
            for name in group.attrs["layer_names"]
            for w in group[name].attrs["weight_names"]
        ]
    assert shapes == [tuple(w.shape) for w in model.get_weights()]


def test_architectures_plug_in_through_the_registry():
    import keras

    from training.model import ARCHITECTURES, build_model, register_architecture

    @register_architecture("test_tiny")
    def tiny(input_shape, num_classes, width, seed):
        inputs = keras.Input(shape=input_shape)
        x = keras.layers.AveragePooling2D(pool_size=input_shape[:2])(inputs)
        return keras.Model(inputs, keras.layers.Dense(num_classes)(keras.layers.Flatten()(x)))

    try:
        assert build_model(input_shape=(8, 8, 1), arch="test_tiny").count_params() == 4
        with pytest.raises(ValueError, match="already registered"):
            register_architecture("test_tiny")(tiny)
    finally:
        ARCHITECTURES.pop("test_tiny")
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model(arch="test_tiny")


def test_recipes_name_their_parts():
    from training.recipes import RECIPES, get_recipe

    mlperf = RECIPES["mlperf"]
    assert (mlperf.arch, mlperf.optimizer, mlperf.epochs, mlperf.batch_size) == (
        "mobilenet_v1", "adam", 50, 32,
    )  # fmt: skip
    aug = mlperf.augmentation
    assert (aug.rotation_deg, aug.shift_fraction, aug.zoom, aug.flip) == (10.0, 0.05, 0.1, True)
    assert RECIPES["doorbell"].arch == "doorbell_mobilenet"
    with pytest.raises(ValueError, match="unknown recipe"):
        get_recipe("imagenet")


def test_mlperf_learning_rate_steps_at_epochs_20_and_30_of_50():
    from training.recipes import RECIPES, make_optimizer, make_schedule

    recipe, steps = RECIPES["mlperf"], 10
    assert type(make_optimizer(recipe, 50, steps)).__name__ == "Adam"
    schedule = make_schedule(recipe, 50, steps)
    # the rate used for batch i is schedule(i - 1); epoch e's first batch is e * steps + 1
    rate = {epoch: float(schedule(epoch * steps)) for epoch in (0, 19, 20, 29, 30, 49)}
    assert rate == pytest.approx({0: 1e-3, 19: 1e-3, 20: 5e-4, 29: 5e-4, 30: 2.5e-4, 49: 2.5e-4})
    assert float(schedule(20 * steps - 1)) == pytest.approx(1e-3)  # epoch 20's last batch
    assert recipe.describe_schedule(50) == (
        "0.001 for epochs 1-20, 0.0005 for epochs 21-30, 0.00025 for epochs 31-50"
    )


def test_doorbell_warp_is_a_flip_and_an_edge_padded_whole_pixel_shift():
    from training.recipes import Augmentation, apply_transforms, draw_transforms

    pixels = np.random.default_rng(0).integers(0, 256, (16, 20, 24, 2), dtype=np.uint8)
    transforms, gains = draw_transforms(
        Augmentation(flip=True, shift_px=3), 16, (20, 24), np.random.default_rng(1)
    )
    out = np.asarray(apply_transforms(pixels, transforms, gains))
    rng = np.random.default_rng(1)  # the same draws, in draw_transforms' order
    flip, tx, ty = rng.random(16) < 0.5, rng.integers(-3, 4, 16), rng.integers(-3, 4, 16)
    for i in range(16):
        xs = (23 - np.arange(24) if flip[i] else np.arange(24)) + tx[i]
        ys = np.clip(np.arange(20) + ty[i], 0, 19)
        expected = pixels[i][ys][:, np.clip(xs, 0, 23)]
        assert np.allclose(out[i] * 255, expected, atol=1e-3), i


def test_mlperf_augmentation_moves_pixels_and_stays_in_range():
    from training.recipes import RECIPES
    from training.train import augment

    pixels = np.random.default_rng(2).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    aug = RECIPES["mlperf"].augmentation
    out = augment(pixels, np.random.default_rng(3), augmentation=aug)
    assert out.shape == pixels.shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    changed = np.abs(out - to_float_input(pixels)).reshape(8, -1).max(axis=1)
    assert (changed > 0.1).all()  # rotation / zoom / shift touch every image
    assert np.array_equal(out, augment(pixels, np.random.default_rng(3), augmentation=aug))


def test_an_epochs_batches_depend_only_on_seed_and_epoch():
    from training.recipes import RECIPES, training_dataset

    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (20, 8, 8, 1), dtype=np.uint8)
    labels = rng.integers(0, 2, 20)
    aug = RECIPES["doorbell"].augmentation

    def batches(first_epoch):
        ds = training_dataset(images, labels, aug, batch_size=8, seed=7,
                              first_epoch=first_epoch, epochs=2)  # fmt: skip
        return [(np.asarray(x), np.asarray(y)) for x, y in ds]

    both, second = batches(0), batches(1)
    assert len(both) == 6 and len(second) == 3  # ceil(20 / 8) per epoch
    for (xa, ya), (xb, yb) in zip(both[3:], second):
        assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
    assert not np.array_equal(both[0][0], both[3][0])  # epochs differ
    assert sorted(np.concatenate([y for _, y in second])) == sorted(labels)


# --- checkpoints, resume, TensorBoard --------------------------------------------------


@pytest.fixture(scope="module")
def tiny_manifest(tmp_path_factory):
    from training.synthetic import build_dataset

    return build_dataset(tmp_path_factory.mktemp("tiny") / "data", n=160, seed=3, size=64)


class _StopAfterFirstEpoch(Exception):
    pass


@pytest.mark.slow
def test_resume_continues_at_the_next_epoch_with_the_optimizer_state(tiny_manifest, tmp_path):
    import keras

    from training.train import load_checkpoint_state, train

    kw = {"epochs": 2, "batch_size": 16, "seed": 5, "verbose": False}

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise _StopAfterFirstEpoch  # like a kill right after epoch 1's checkpoint

    class Seen(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs = []

        def on_epoch_begin(self, epoch, logs=None):
            self.epochs.append(epoch)

    straight = train(tiny_manifest, tmp_path / "straight", **kw)
    with pytest.raises(_StopAfterFirstEpoch):
        train(tiny_manifest, tmp_path / "resumed", callbacks=[Stop()], **kw)
    state = load_checkpoint_state(tmp_path / "resumed")
    steps = -(-120 // 16)  # 120 training images (75 % of 160)
    assert state["epoch"] == 1 and state["optimizer_iterations"] == steps
    saved = keras.models.load_model(tmp_path / "resumed" / "checkpoints" / state["checkpoint"])
    assert int(saved.optimizer.iterations.numpy()) == steps
    assert float(np.asarray(saved.optimizer.learning_rate)) == pytest.approx(
        state["history"][0]["learning_rate"]
    )  # the cosine schedule came back at step 8, not at step 0 (3e-3)
    assert state["history"][0]["learning_rate"] < 3e-3
    assert any(np.abs(v.numpy()).max() > 0 for v in saved.optimizer.variables[2:])  # moments

    seen = Seen()
    resumed = train(tiny_manifest, tmp_path / "resumed", resume=True, callbacks=[seen], **kw)
    assert seen.epochs == [1]  # 0-based: it ran epoch 2 only
    history = json.loads((tmp_path / "resumed" / "training_history.json").read_text())
    assert [e["epoch"] for e in history["epochs"]] == [1, 2]
    assert history["resumed_at_epoch"] == 2
    a = keras.models.load_model(straight).get_weights()
    b = keras.models.load_model(resumed).get_weights()
    # The same batches in the same order: equal up to float rounding (bit-equal on CPU here).
    assert all(np.allclose(x, y, rtol=1e-5, atol=1e-6) for x, y in zip(a, b))

    with pytest.raises(UserError, match="cannot resume.*width"):
        train(tiny_manifest, tmp_path / "resumed", resume=True, **(kw | {"width": 0.5}))

    logs = tmp_path / "straight" / "tensorboard"
    assert list((logs / "train").glob("events.out.tfevents.*"))
    assert list((logs / "validation").glob("events.out.tfevents.*"))
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(logs / "train"))
    events.Reload()
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= set(events.Tags()["tensors"])
    assert len(events.Tensors("epoch_loss")) == 2


@pytest.mark.slow
def test_quantize_report_is_written_beside_the_tflite(pipeline):
    from training.quantize import REPORT_FILE, float_int8_agreement, int8_accuracy
    from training.train import evaluate_keras

    manifest, model, tflite = pipeline
    report = json.loads((tflite.parent / REPORT_FILE).read_text())
    assert report["tflite"] == tflite.name and report["split"] == "test"
    assert report["float_accuracy"] == pytest.approx(evaluate_keras(model, manifest))
    assert report["int8_accuracy"] == pytest.approx(int8_accuracy(tflite, manifest))
    assert report["agreement"] == pytest.approx(float_int8_agreement(model, tflite, manifest))
    assert report["calibration"]["per_class"] == {"person": 20, "no_person": 20}
    assert set(report["ops"]) <= ALLOWED_OPS


# --- the CLI ---------------------------------------------------------------------------


def test_train_cli_dispatches_dp_to_training_dp(monkeypatch, tmp_path, capsys):
    import sys
    import types

    from peekless.cli import main

    calls = []
    fake = types.ModuleType("training.dp")
    fake.train_dp = lambda manifest, out, **kw: calls.append((manifest, out, kw)) or out
    monkeypatch.setitem(sys.modules, "training.dp", fake)
    manifest = tmp_path / "manifest.json"
    argv = ["train", str(manifest), "--out", str(tmp_path / "m"), "--dp", "--no-export"]
    assert main([*argv, "--target-epsilon", "3", "--epochs", "4", "--delta", "1e-5"]) == 0
    (_, _, kw), = calls  # fmt: skip
    assert kw == {
        "epochs": 4, "seed": 0, "width": 0.25, "l2_clip": 1.0,  # batch size: train_dp's
        "noise_multiplier": None, "target_epsilon": 3.0, "delta": 1e-5,
        "init_model": None, "train_only": "all",
    }  # fmt: skip
    public = tmp_path / "public.keras"
    tune = ["--target-epsilon", "8", "--init-model", str(public), "--learning-rate", "1e-3"]
    assert main([*argv, *tune, "--train-only", "bn_and_logits"]) == 0
    kw = calls[-1][2]
    assert (kw["init_model"], kw["train_only"], kw["learning_rate"]) == (
        public,
        "bn_and_logits",
        1e-3,
    )
    assert main([*argv, "--recipe", "mlperf"]) == 2
    assert "--dp" in capsys.readouterr().err
    plain = [a for a in argv if a != "--dp"]
    assert main([*plain, "--init-model", str(public)]) == 2  # fine-tuning is DP-only
    assert "--init-model" in capsys.readouterr().err
