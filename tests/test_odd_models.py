"""A corpus of odd models, generated with TF here: each either compiles and runs bit-exact
with LiteRT on the host, or is refused with one line naming the operator or tensor
(compiler.UnsupportedModelError, which `peekless compile` prints as one line, exit 2).

Cases: input ranks 1 to 5, a leading RESHAPE, Conv1D (EXPAND_DIMS/RESHAPE around
CONV_2D), a model that only reshapes, tensors without names, with one name for all, with
quotes, newlines and non-ASCII in names, operators in another valid order and out of
order, unsupported and custom operators, float, uint8 and int16 inputs, two inputs, two
outputs, batch 2, a dynamic dimension."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from model_factory import convert_int8
from test_engine_exact import assert_bit_exact

from compiler import UnsupportedModelError, compile_model
from compiler.host_runner import build_host_runner, run_host_runner
from compiler.tflite_reader import read_tflite
from training.reference import litert_reference

ODD_NAME = "t{} \"quoted\" 'single' é ✓ %s {{}}\nsecond line"
EXACT = "exact"


def _keras(seed: int = 0):
    import keras

    keras.utils.set_random_seed(seed)
    return keras


def _convert(model, path: Path, input_type=None, ops=None, samples=None) -> Path:
    """Full-int8 conversion with chosen input/output types (default int8)."""
    import tensorflow as tf

    shapes = [tuple(3 if d is None else int(d) for d in t.shape) for t in model.inputs]  # None: dynamic

    def representative():
        rng = np.random.default_rng(0)
        for _ in range(samples or 16):
            yield [rng.random(s, dtype=np.float32) for s in shapes]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = ops or [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = input_type or tf.int8
    conv.inference_output_type = input_type or tf.int8
    path.write_bytes(conv.convert())
    return path


def _edit(src: Path, dst: Path, change) -> Path:
    """A copy of src with its flatbuffer changed by change(model) (TF's object API)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(src))
    change(model)
    flatbuffer_utils.write_model(model, str(dst))
    return dst


def _rank1(path: Path) -> Path:
    """A rank-1 input [12] (no batch dimension), through a concrete function."""
    import tensorflow as tf

    w = tf.constant(np.random.default_rng(1).normal(size=(12, 3)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([12], tf.float32)])
    def f(x):
        return tf.matmul(tf.reshape(x, [1, 12]), w)

    conv = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([np.random.default_rng(i).random(12, dtype=np.float32)]
                                           for i in range(16))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = conv.inference_output_type = tf.int8
    path.write_bytes(conv.convert())
    return path


def _branches(keras):
    inp = keras.Input((6, 6, 2), batch_size=1)
    a = keras.layers.Conv2D(3, 3, padding="same")(inp)
    b = keras.layers.Conv2D(3, 1)(inp)
    x = keras.layers.Add()([a, b])
    return keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(x)))


def _rename(names):
    def change(model):
        for i, t in enumerate(model.subgraphs[0].tensors):
            t.name = names(i)
    return change


def _reorder(order_of):
    def change(model):
        ops = model.subgraphs[0].operators
        model.subgraphs[0].operators = [ops[i] for i in order_of(ops)]
    return change


def _first_op(name: str):
    """The index of the first operator of that builtin in the model's list."""
    import tflite

    code = getattr(tflite.BuiltinOperator, name)

    def find(model, ops):
        codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
        return next(i for i, op in enumerate(ops) if codes[op.opcodeIndex] == code)
    return find


def _swap_convs(model):
    ops = model.subgraphs[0].operators
    convs = [i for i, op in enumerate(ops) if op.opcodeIndex == ops[0].opcodeIndex][:2]
    ops[convs[0]], ops[convs[1]] = ops[convs[1]], ops[convs[0]]


def _add_first(model):
    ops = model.subgraphs[0].operators
    add = _first_op("ADD")(model, ops)
    model.subgraphs[0].operators = [ops[add], *ops[:add], *ops[add + 1:]]


def _custom(model):
    add = model.operatorCodes[model.subgraphs[0].operators[_first_op("ADD")(model, model.subgraphs[0].operators)].opcodeIndex]
    add.builtinCode = add.deprecatedBuiltinCode = 32  # CUSTOM
    add.customCode = b"MyFancyAdd"


def _build(name: str, out: Path) -> Path:
    import tensorflow as tf

    keras = _keras()
    layers = keras.layers
    path = out / f"{name}.tflite"
    if name == "rank2_dense":  # MLPerf anomaly detection, TFLM hello_world: [1, N]
        inp = keras.Input((10,), batch_size=1)
        return convert_int8(keras.Model(inp, layers.Dense(3)(layers.Dense(8, activation="relu")(inp))), path)
    if name == "rank1_input":
        return _rank1(path)
    if name == "rank3_conv1d":  # [1, T, F] through Conv1D
        inp = keras.Input((16, 5), batch_size=1)
        x = layers.Conv1D(4, 3, padding="same", activation="relu")(inp)
        return convert_int8(keras.Model(inp, layers.Dense(2)(layers.Flatten()(x))), path)
    if name == "reshape_first":  # micro_speech: a flat input reshaped into an image
        inp = keras.Input((64,), batch_size=1)
        x = layers.Conv2D(4, 3, activation="relu")(layers.Reshape((8, 8, 1))(inp))
        return convert_int8(keras.Model(inp, layers.Dense(2)(layers.Flatten()(x))), path)
    if name == "reshape_only":
        inp = keras.Input((4, 4, 1), batch_size=1)
        return convert_int8(keras.Model(inp, layers.Reshape((16,))(inp)), path)
    if name == "branches":
        return convert_int8(_branches(keras), path)
    if name == "unnamed_tensors":
        from tensorflow.lite.tools import flatbuffer_utils

        return _edit(_build("branches", out), path, flatbuffer_utils.strip_strings)
    if name == "one_name_for_all":
        return _edit(_build("branches", out), path, _rename(lambda i: b"x"))
    if name == "odd_names":
        return _edit(_build("branches", out), path, _rename(lambda i: ODD_NAME.format(i).encode()))
    if name == "another_valid_order":
        return _edit(_build("branches", out), path, _swap_convs)
    if name == "out_of_order":
        return _edit(_build("branches", out), path, _add_first)
    if name == "custom_op":
        return _edit(_build("branches", out), path, _custom)
    if name == "unsupported_tanh":
        inp = keras.Input((6, 6, 2), batch_size=1)
        x = layers.Conv2D(3, 3, padding="same", activation="tanh")(inp)
        return convert_int8(keras.Model(inp, layers.Dense(2)(layers.Flatten()(x))), path)
    if name == "float_io":
        return _convert(_branches(keras), path, input_type=tf.float32)
    if name == "float_io_odd_names":
        return _edit(_build("float_io", out), path, _rename(lambda i: ODD_NAME.format(i).encode()))
    if name == "uint8_io":
        return _convert(_branches(keras), path, input_type=tf.uint8)
    if name == "int16_activations":
        return _convert(_branches(keras), path, input_type=tf.int16, ops=[
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8])
    if name == "two_inputs":
        a, b = keras.Input((4,), batch_size=1), keras.Input((4,), batch_size=1)
        return _convert(keras.Model([a, b], layers.Dense(2)(layers.Concatenate()([a, b]))), path)
    if name == "two_outputs":
        inp = keras.Input((6,), batch_size=1)
        return _convert(keras.Model(inp, [layers.Dense(2)(inp), layers.Dense(3)(inp)]), path)
    if name == "batch2":
        inp = keras.Input((6,), batch_size=2)
        return _convert(keras.Model(inp, layers.Dense(2)(inp)), path)
    if name == "rank5_input":
        inp = keras.Input((2, 3, 4, 2), batch_size=1)
        x = layers.Conv2D(2, 1)(layers.Reshape((6, 4, 2))(inp))
        return _convert(keras.Model(inp, layers.Dense(2)(layers.Flatten()(x))), path)
    if name == "dynamic_length":
        inp = keras.Input((None, 4), batch_size=1)
        x = layers.Conv1D(3, 1)(inp)
        return _convert(keras.Model(inp, layers.Dense(2)(x)), path, samples=4)
    raise KeyError(name)


# name -> EXACT, or a pattern the one-line refusal must match (it names op or tensor)
CORPUS = {
    "rank2_dense": EXACT,
    "rank1_input": EXACT,
    "rank3_conv1d": EXACT,
    "reshape_first": EXACT,
    "reshape_only": EXACT,
    "branches": EXACT,
    "unnamed_tensors": EXACT,
    "one_name_for_all": EXACT,
    "odd_names": EXACT,
    "another_valid_order": EXACT,
    "out_of_order": r"operator 0 \(ADD\), tensor \d+ .*read before any operator writes it",
    "custom_op": r"operator \d+ \(CUSTOM:MyFancyAdd\): operator not supported; supported: CONV_2D",
    "unsupported_tanh": r"operator \d+ \(TANH\): operator not supported; supported: CONV_2D",
    "float_io": r"graph input tensor \d+ '.*' is FLOAT32; only INT8 is supported",
    "float_io_odd_names": r"graph input tensor \d+ 't\d+ \"quoted\" .*\\nsecond line' is FLOAT32",
    "uint8_io": r"graph input tensor \d+ '.*' is UINT8; only INT8 is supported",
    "int16_activations": r"graph input tensor \d+ '.*' is INT16; only INT8 is supported",
    "two_inputs": r"2 inputs and 1 outputs; the engine supports exactly one of each",
    "two_outputs": r"1 inputs and 2 outputs; the engine supports exactly one of each",
    "batch2": r"graph input tensor \d+ '.*' has batch 2 \(shape \[2, 6\]\); only batch 1",
    "rank5_input": r"graph input tensor \d+ '.*' has rank 5; ranks 1 to 4 are supported",
    "dynamic_length": r"graph input tensor \d+ '.*' has a dynamic shape",
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("odd")
    built: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in built:
            built[name] = _build(name, out)
        return built[name]

    return get


@pytest.mark.parametrize("name", CORPUS)
def test_odd_model_compiles_exact_or_is_refused_clearly(name, corpus, tmp_path):
    path = corpus(name)
    expect = CORPUS[name]
    if expect != EXACT:
        with pytest.raises(UnsupportedModelError) as err:
            compile_model(path, tmp_path / "gen")
        message = str(err.value)
        assert "\n" not in message, message
        assert message.startswith(f"{path.name}: ") and re.search(expect, message), message
        return
    compile_model(path, tmp_path / "gen")
    graph = read_tflite(path)
    shape = graph.tensors[graph.inputs[0]].shape
    shape = shape[1:] if len(shape) > 1 else shape
    x = np.random.default_rng(len(name)).integers(-128, 128, size=(8, *shape), dtype=np.int8)
    ref = litert_reference(path, x)
    assert_bit_exact(run_host_runner(build_host_runner(tmp_path / "gen"), x, ref.shape[1]), ref, name)


def test_litert_runs_the_edited_models(corpus):
    """The edits make models LiteRT still takes (so "exact" is against a real reference):
    no names, one name, odd names, another operator order."""
    for name in ("unnamed_tensors", "one_name_for_all", "odd_names", "another_valid_order"):
        graph = read_tflite(corpus(name))
        x = np.zeros((1, *graph.tensors[graph.inputs[0]].shape[1:]), np.int8)
        assert litert_reference(corpus(name), x).shape == (1, 2)
    assert {t.name for t in read_tflite(corpus("unnamed_tensors")).tensors} == {""}
    assert {t.name for t in read_tflite(corpus("one_name_for_all")).tensors} == {"x"}

    def outputs(name):
        return [op.outputs for op in read_tflite(corpus(name)).operators]

    assert outputs("another_valid_order") != outputs("branches")
    assert sorted(outputs("another_valid_order")) == sorted(outputs("branches"))


def test_cli_prints_one_line_and_exits_2(corpus, tmp_path, capsys):
    from peekless.cli import main

    rc = main(["compile", str(corpus("unsupported_tanh")), "--out", str(tmp_path / "gen")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "(TANH)" in err and err.startswith("peekless compile: ")
