"""Preprocessing, the model definition, and a tiny train -> quantize -> LiteRT run."""

from __future__ import annotations

import json

import numpy as np
import pytest

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
    from training.synthetic import load_split_ids

    manifest, _, tflite = pipeline
    record = json.loads(tflite.with_suffix(".calibration.json").read_text())
    assert record["count"] == 40 and len(record["ids"]) == 40 == len(set(record["ids"]))
    assert record["per_class"] == {"person": 20, "no_person": 20}
    assert set(record["ids"]) <= set(load_split_ids(manifest, "train"))


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
