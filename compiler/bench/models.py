"""A small generated model for the bench when no demo model has been trained: a
MobileNet-like stack (3x3 conv, depthwise and pointwise blocks, average pooling, dense,
softmax) on 48x48 gray, random weights from a fixed seed, full-int8 quantized."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def small_model(out: Path, seed: int = 7) -> Path:
    if out.exists():
        return out
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    inp = keras.Input((48, 48, 1), batch_size=1)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    for filters, stride in ((16, 1), (32, 2), (32, 1), (64, 2)):
        x = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", activation="relu")(x)
        x = keras.layers.Conv2D(filters, 1, activation="relu")(x)
    x = keras.layers.AveragePooling2D(x.shape[1:3])(x)
    x = keras.layers.Reshape((-1,))(x)
    x = keras.layers.Dense(2)(x)
    model = keras.Model(inp, keras.layers.Softmax()(x))

    def representative():
        rng = np.random.default_rng(seed)
        for _ in range(16):
            yield [rng.random((1, 48, 48, 1), dtype=np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(conv.convert())
    return out
