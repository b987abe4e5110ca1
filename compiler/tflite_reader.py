"""Read a .tflite flatbuffer into a small, plain intermediate representation.

Parsing uses the maintained `tflite` package (the schema's generated Python bindings);
nothing here walks the flatbuffer by hand.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tflite

from compiler.errors import UnsupportedModelError

_OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_TYPE_NAMES = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
_NUMPY_TYPES = {
    "FLOAT32": np.float32,
    "INT32": np.int32,
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT16": np.int16,
    "INT64": np.int64,
}


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # TFLite type name: "INT8", "INT32", "FLOAT32", ...
    scale: np.ndarray | None = None  # float32, one per channel or one per tensor
    zero_point: np.ndarray | None = None
    quantized_dimension: int = 0
    data: np.ndarray | None = None  # constant contents, None for activations
    dynamic: bool = False  # a -1 in a non-batch dimension of the shape signature

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def num_bytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(_NUMPY_TYPES[self.dtype]).itemsize


@dataclass
class Operator:
    index: int
    name: str  # builtin operator name, e.g. "CONV_2D"
    inputs: list[int]  # tensor indices; -1 means an absent optional input
    outputs: list[int]
    options: dict = field(default_factory=dict)


@dataclass
class Graph:
    path: Path
    sha256: str
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]

    def where(self, op: Operator, tensor: int | None = None) -> str:
        """A location prefix for error messages: file, operator index and name, tensor."""
        text = f"{self.path.name}: operator {op.index} ({op.name})"
        if tensor is not None and tensor >= 0:
            text += f", {self.tensor_label(tensor)}"
        return text

    def tensor_label(self, tensor: int) -> str:
        """'tensor 3 'name'' for error messages; 'tensor 3 (unnamed)' without a name."""
        name = self.tensors[tensor].name
        return f"tensor {tensor} {name!r}" if name else f"tensor {tensor} (unnamed)"


def read_tflite(path: Path) -> Graph:
    """Parse the first subgraph of a .tflite file. Raises UnsupportedModelError on a file
    that is not a readable TFLite flatbuffer."""
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise UnsupportedModelError(f"{path}: cannot read the model ({exc.strerror or exc})") from exc
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise UnsupportedModelError(
            f"{path}: not a TFLite flatbuffer (no 'TFL3' identifier; truncated or wrong file)"
        )
    try:
        model = tflite.Model.GetRootAsModel(buf, 0)
        if model.SubgraphsLength() < 1:
            raise UnsupportedModelError(f"{path}: the model has no subgraph")
        graph = model.Subgraphs(0)
        tensors = [_read_tensor(model, graph, i) for i in range(graph.TensorsLength())]
        operators = [_read_operator(model, graph, i) for i in range(graph.OperatorsLength())]
        inputs = [int(i) for i in graph.InputsAsNumpy()]
        outputs = [int(i) for i in graph.OutputsAsNumpy()]
    except UnsupportedModelError:
        raise
    except Exception as exc:  # the bindings raise bare struct/index errors on a broken file
        raise UnsupportedModelError(f"{path}: cannot parse the flatbuffer ({exc}); truncated?") from exc
    return Graph(path, hashlib.sha256(buf).hexdigest(), tensors, operators, inputs, outputs)


def _read_tensor(model, graph, index: int) -> Tensor:
    t = graph.Tensors(index)
    dtype = _TYPE_NAMES.get(t.Type(), f"type {t.Type()}")
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    signature = tuple(int(d) for d in t.ShapeSignatureAsNumpy()) if t.ShapeSignatureLength() else shape
    # Names are optional in the schema (a stripped model has none); messages then say so.
    name = t.Name()
    tensor = Tensor(index, name.decode("utf-8", "replace") if name else "", shape, dtype)
    tensor.dynamic = any(d < 0 for d in signature[1:])
    q = t.Quantization()
    if q is not None and q.ScaleLength():
        tensor.scale = q.ScaleAsNumpy().astype(np.float32)
        tensor.zero_point = q.ZeroPointAsNumpy().astype(np.int64)
        tensor.quantized_dimension = int(q.QuantizedDimension())
    raw = model.Buffers(t.Buffer()).DataAsNumpy() if t.Buffer() > 0 else None
    if isinstance(raw, np.ndarray) and raw.size and dtype in _NUMPY_TYPES:
        tensor.data = raw.view(_NUMPY_TYPES[dtype]).reshape(shape)
    return tensor


def _read_operator(model, graph, index: int) -> Operator:
    op = graph.Operators(index)
    code = model.OperatorCodes(op.OpcodeIndex())
    # Newer files keep small codes in the deprecated byte field, large ones in the new one.
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    name = _OP_NAMES.get(builtin, f"BUILTIN_{builtin}")
    if builtin == tflite.BuiltinOperator.CUSTOM:
        custom = code.CustomCode()
        name = f"CUSTOM:{custom.decode('utf-8', 'replace') if custom else '?'}"
    inputs = [int(i) for i in op.InputsAsNumpy()] if op.InputsLength() else []
    outputs = [int(i) for i in op.OutputsAsNumpy()] if op.OutputsLength() else []
    return Operator(index, name, inputs, outputs, _read_options(op, name))


def _read_options(op, name: str) -> dict:
    table = op.BuiltinOptions()
    if table is None:
        return {}
    readers = {
        "CONV_2D": (tflite.Conv2DOptions, ["Padding", "StrideW", "StrideH", "FusedActivationFunction",
                                           "DilationWFactor", "DilationHFactor"]),
        "DEPTHWISE_CONV_2D": (tflite.DepthwiseConv2DOptions,
                              ["Padding", "StrideW", "StrideH", "DepthMultiplier",
                               "FusedActivationFunction", "DilationWFactor", "DilationHFactor"]),
        "AVERAGE_POOL_2D": (tflite.Pool2DOptions, ["Padding", "StrideW", "StrideH", "FilterWidth",
                                                   "FilterHeight", "FusedActivationFunction"]),
        "MAX_POOL_2D": (tflite.Pool2DOptions, ["Padding", "StrideW", "StrideH", "FilterWidth",
                                               "FilterHeight", "FusedActivationFunction"]),
        "FULLY_CONNECTED": (tflite.FullyConnectedOptions, ["FusedActivationFunction", "KeepNumDims"]),
        "SOFTMAX": (tflite.SoftmaxOptions, ["Beta"]),
    }
    if name not in readers:
        return {}
    cls, fields = readers[name]
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    return {f: getattr(opts, f)() for f in fields}
