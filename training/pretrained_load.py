"""Load any single-input Keras model (``.keras`` or Keras 2 ``.h5``) and adapt it.

- ``load_keras_model``: ``.keras`` as Keras 3 saves it, or an HDF5 ``.h5`` saved by
  TF 2.x Keras 2 (the MLPerf Tiny VWW float model is one). Keras 3 refuses Keras 2's
  ``DepthwiseConv2D`` config because it carries ``groups`` (always 1 for a depthwise
  convolution, and no longer an argument); a subclass that drops it is passed through
  ``custom_objects``. Nothing else is patched.
- ``single_input_shape``: the model's one input shape, or a UserError naming the file.
- ``fixed_batch_model``: a batch-1 clone (so the TFLite converter folds every shape),
  whatever the input's structure: a tensor, or a one-element list as Keras 2 saves it.
- ``logits_model``: the same weights without a final softmax, for training with
  ``from_logits=True`` like every Peekless model.
- ``gray_model``: the same network for a 1-channel camera. The first convolution's kernel
  is summed over its input-channel axis: for a gray image ``g`` replicated to 3 channels,
  ``sum_c W[..., c, :] * g == (sum_c W[..., c, :]) * g``, so the gray model's output on
  ``g`` equals the RGB model's output on ``[g, g, g]`` exactly (up to float rounding).
"""

from __future__ import annotations

import os
from pathlib import Path

from peekless.errors import UserError

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def _keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    return keras


def _depthwise_without_groups():
    keras = _keras()

    class DepthwiseConv2D(keras.layers.DepthwiseConv2D):
        """Keras 2's DepthwiseConv2D config as Keras 3 reads it: ``groups`` dropped."""

        def __init__(self, *args, groups: int | None = None, **kwargs):
            if groups not in (None, 1):
                raise ValueError(f"DepthwiseConv2D with groups={groups} is not depthwise")
            super().__init__(*args, **kwargs)

    return DepthwiseConv2D


def load_keras_model(path: Path):
    """The Keras model at ``path`` (.keras, or Keras 2 .h5), uncompiled.

    Raises UserError for a missing file, an unknown suffix or a file Keras cannot read."""
    keras = _keras()
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such model file", "give a .keras or .h5 file")
    suffix = path.suffix.lower()
    if suffix not in KERAS_SUFFIXES:
        raise UserError(
            f"{path}: not a Keras model file (suffix {suffix or 'none'})",
            f"give one of {', '.join(KERAS_SUFFIXES)}",
        )
    shim = _depthwise_without_groups()
    custom = {} if suffix == ".keras" else {"DepthwiseConv2D": shim}
    try:
        model = keras.models.load_model(path, custom_objects=custom, compile=False)
    except Exception as exc:
        raise UserError(f"{path}: Keras cannot load it: {type(exc).__name__}: {exc}") from exc
    if not any(isinstance(layer, shim) for layer in model.layers):
        return model
    # Back to Keras' own class, so that the model saves and loads without this module.
    def plain(layer):
        cls = keras.layers.DepthwiseConv2D if isinstance(layer, shim) else type(layer)
        return cls.from_config(layer.get_config())

    clone = keras.models.clone_model(model, clone_function=plain)
    clone.set_weights(model.get_weights())
    return clone


def single_input_shape(model, source: str = "model") -> tuple[int, int, int]:
    """(H, W, C) of the model's one image input; UserError for any other interface."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UserError(
            f"{source}: {len(model.inputs)} inputs and {len(model.outputs)} outputs",
            "Peekless models take one image and give one output tensor",
        )
    shape = tuple(model.inputs[0].shape[1:])
    if len(shape) != 3 or any(d is None for d in shape) or shape[-1] not in (1, 3):
        raise UserError(
            f"{source}: input shape {shape}", "want a fixed (height, width, 1 or 3) image input"
        )
    out = tuple(model.outputs[0].shape[1:])
    if out != (2,):
        raise UserError(f"{source}: output shape {out}", "want 2 scores: no person, person")
    return tuple(int(d) for d in shape)


def _input_structure(model, tensor):
    """``tensor`` in the structure of the model's inputs (a Keras 2 .h5 keeps a list)."""
    return [tensor] if isinstance(model.input, (list, tuple)) else tensor


def fixed_batch_model(model):
    """A clone of ``model`` with a batch-1 input named ``pixels`` and the same weights, so
    the converter folds every shape (no SHAPE/STRIDED_SLICE/PACK ops for Flatten)."""
    keras = _keras()
    single_input_shape(model)
    inp = model.inputs[0]
    fixed_input = keras.Input(batch_shape=(1, *inp.shape[1:]), dtype=inp.dtype, name="pixels")
    if isinstance(model, keras.Sequential):
        clone = keras.Model(fixed_input, model(fixed_input))
    else:
        clone = keras.models.clone_model(model, input_tensors=_input_structure(model, fixed_input))
        clone.set_weights(model.get_weights())
    return clone


def _is_softmax(activation) -> bool:
    return getattr(activation, "__name__", str(activation)) == "softmax"


def logits_model(model):
    """``model`` with its final softmax removed (a Softmax/Activation layer, or a Dense
    layer's softmax activation), weights shared; ``model`` itself when it has none."""
    keras = _keras()
    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax) or (
        isinstance(last, keras.layers.Activation) and _is_softmax(last.activation)
    ):
        return keras.Model(model.inputs, last.input, name=model.name)
    if isinstance(last, keras.layers.Dense) and _is_softmax(last.activation):
        config = last.get_config() | {"activation": "linear", "name": f"{last.name}_logits"}
        head = keras.layers.Dense.from_config(config)
        logits = head(last.input)
        head.set_weights(last.get_weights())
        return keras.Model(model.inputs, logits, name=model.name)
    return model


def gray_model(model):
    """The 1-channel version of an RGB ``model``: its first convolution's kernel summed
    over the input channels (exact for a gray image replicated to R = G = B)."""
    keras = _keras()
    shape = single_input_shape(model)
    if shape[-1] == 1:
        return model
    first = next(layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer))
    if type(first) is not keras.layers.Conv2D:
        raise UserError(
            f"the model's first layer is {type(first).__name__}",
            "a gray version needs a Conv2D on the input to fold the colour channels into",
        )
    gray_input = keras.Input(shape=(*shape[:2], 1), name="pixels")
    clone = keras.models.clone_model(model, input_tensors=_input_structure(model, gray_input))
    for src, dst in zip(model.layers, clone.layers):
        weights = src.get_weights()
        if src is first:
            weights[0] = weights[0].sum(axis=2, keepdims=True)
        dst.set_weights(weights)
    return clone
