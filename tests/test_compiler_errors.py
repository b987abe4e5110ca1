"""Models the compiler cannot take fail with an error naming the file, op and tensor."""

from __future__ import annotations

import pytest
from model_factory import convert_int8

from compiler import UnsupportedModelError, compile_model


def test_truncated_file(tmp_path, mlperf_tflite):
    broken = tmp_path / "truncated.tflite"
    broken.write_bytes(mlperf_tflite.read_bytes()[:2000])
    with pytest.raises(UnsupportedModelError, match="truncated.tflite"):
        compile_model(broken, tmp_path / "gen")


def test_not_a_tflite_file(tmp_path):
    junk = tmp_path / "photo.tflite"
    junk.write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    with pytest.raises(UnsupportedModelError, match="photo.tflite: not a TFLite flatbuffer"):
        compile_model(junk, tmp_path / "gen")


def _keras(build):
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 2), batch_size=1)
    return keras.Model(inp, build(keras, inp))


def test_unsupported_operator_is_named(tmp_path):
    model = _keras(lambda k, x: k.layers.Reshape((-1,))(k.layers.Multiply()([x, x])))
    path = convert_int8(model, tmp_path / "mul.tflite")
    with pytest.raises(UnsupportedModelError, match=r"mul.tflite: operator 0 \(MUL\): operator not supported; supported: CONV_2D"):
        compile_model(path, tmp_path / "gen")


def test_float_model_is_refused(tmp_path):
    import tensorflow as tf

    model = _keras(lambda k, x: k.layers.Dense(2)(k.layers.Reshape((-1,))(x)))
    path = tmp_path / "float.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    with pytest.raises(UnsupportedModelError, match=r"float.tflite: graph input tensor 0 .* is FLOAT32; only INT8 .*full-int8"):
        compile_model(path, tmp_path / "gen")


def test_mean_over_channels_is_refused(tmp_path):
    """MEAN is supported over height and width (global average pooling) only."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, 3), batch_size=1)
    x = keras.layers.Conv2D(4, 3, padding="same")(inp)
    x = keras.layers.Lambda(lambda t: keras.ops.mean(t, axis=-1, keepdims=True))(x)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Reshape((-1,))(x)))
    path = convert_int8(model, tmp_path / "mean_c.tflite")
    with pytest.raises(UnsupportedModelError, match=r"mean_c.tflite: operator \d+ \(MEAN\): only MEAN over height and width"):
        compile_model(path, tmp_path / "gen")


def test_missing_file_is_one_line(tmp_path, capsys):
    from peekless.cli import main

    assert main(["compile", str(tmp_path / "nowhere.tflite"), "--out", str(tmp_path / "gen")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nowhere.tflite: cannot read the model" in err
