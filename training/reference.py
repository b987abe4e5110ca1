"""The host reference for int8 outputs: LiteRT with its *reference* kernels.

LiteRT's default XNNPACK delegate is not bit-exact with TFLite's reference kernels, so
every comparison between the device and the host goes through this module."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def reference_interpreter(tflite_path: Path):
    """A LiteRT interpreter using the BUILTIN_REF op resolver (tf.lite's if LiteRT is missing)."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:  # pragma: no cover - depends on the environment
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
        OpResolverType = tf.lite.experimental.OpResolverType
    interpreter = Interpreter(model_path=str(tflite_path),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interpreter.allocate_tensors()
    return interpreter


def litert_reference(tflite_path: Path, int8_inputs: np.ndarray) -> np.ndarray:
    """Run every row of int8_inputs ([n, *input shape without batch]) through the model;
    returns the int8 outputs as [n, output elements]."""
    interpreter = reference_interpreter(tflite_path)
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    shape = tuple(inp["shape"])
    results = []
    for row in np.asarray(int8_inputs):
        interpreter.set_tensor(inp["index"], row.astype(inp["dtype"]).reshape(shape))
        interpreter.invoke()
        results.append(interpreter.get_tensor(out["index"]).reshape(-1).copy())
    return np.stack(results) if results else np.zeros((0, int(np.prod(out["shape"]))), np.int8)
