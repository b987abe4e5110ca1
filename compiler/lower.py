"""Lower TFLite operators into engine calls with every constant resolved (TFLM's Prepare,
moved to compile time)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compiler.errors import UnsupportedModelError
from compiler.layout import _align, relayout
from compiler.quant import (
    SUPPORTED_ACTIVATIONS,
    activation_range,
    channel_multipliers,
    quantize_multiplier,
    requantize,
    same_padding,
    softmax_scaling,
)
from compiler.tflite_reader import Graph, Operator, Tensor

SUPPORTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D",
                 "FULLY_CONNECTED", "RESHAPE", "EXPAND_DIMS", "SQUEEZE", "SOFTMAX", "PAD",
                 "PADV2", "MEAN", "ADD", "CONCATENATION")
# Ops that keep the bytes and change the shape: their other inputs are not data.
RESHAPE_OPS = ("RESHAPE", "EXPAND_DIMS", "SQUEEZE")
# Ops that only compute shapes for a RESHAPE; with static shapes they are dead code.
SHAPE_ONLY_OPS = ("SHAPE", "STRIDED_SLICE", "PACK")
PADDING_SAME, PADDING_VALID = 0, 1

# How LiteRT's reference kernels round when requantizing, per (op, per-channel filter).
# Measured, not assumed: tests/test_engine_exact.py checks every entry against LiteRT.
REFERENCE_ROUNDING = {
    ("CONV_2D", True): "PK_ROUND_DOUBLE",
    ("CONV_2D", False): "PK_ROUND_DOUBLE",
    ("DEPTHWISE_CONV_2D", True): "PK_ROUND_DOUBLE",
    ("DEPTHWISE_CONV_2D", False): "PK_ROUND_DOUBLE",
    ("FULLY_CONNECTED", True): "PK_ROUND_SINGLE",
    ("FULLY_CONNECTED", False): "PK_ROUND_SINGLE",
}


@dataclass
class Step:
    """One engine call. `kernel` is the C function; `consts` are the arrays it needs."""

    op: Operator
    kernel: str  # C kernel name, or "alias" for a reshape that moves no data
    input: int
    output: int
    dims: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    params: dict[str, int | str] = field(default_factory=dict)
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    macs: int = 0
    scratch: int = 0  # bytes of working memory the kernel needs (pk_engine.h's formulas)
    extra_inputs: list[int] = field(default_factory=list)  # ADD's second, CONCATENATION's rest
    # How the output may overlap the input (pk_engine.h, "Buffer overlap"): None (never), or
    # {"kind": ..., "min_delta": lo, "max_delta": hi}: out = in + delta is safe for any delta
    # in [lo, hi] (None = unbounded), besides any placement where the two do not overlap.
    overlap: dict | None = None
    # Row-local ops (convolutions, pooling, PAD): output row o reads input rows
    # o * stride - pad_top + k * dilation, k in [0, taps), those outside the input being
    # padding. compiler/bands.py runs such layers over bands of rows; None = not row-local.
    rows: dict | None = None

    @property
    def inputs(self) -> list[int]:
        return [self.input, *self.extra_inputs]


def live_operators(graph: Graph) -> list[Operator]:
    """Operators that contribute to a graph output, in file order. A RESHAPE's shape input
    is not data: the output's static shape is what counts."""
    needed = set(graph.outputs)
    live: list[Operator] = []
    for op in reversed(graph.operators):
        if not needed.intersection(op.outputs):
            continue
        live.append(op)
        needed.update(i for i in _data_inputs(op) if i >= 0)
    return list(reversed(live))


def _data_inputs(op: Operator) -> list[int]:
    return op.inputs[:1] if op.name in RESHAPE_OPS else op.inputs


def _check_order(graph: Graph, ops: list[Operator]) -> None:
    """Every operator reads tensors that the graph input, a constant or an earlier
    operator provides, and writes tensors nothing else provides (LiteRT runs operators in
    file order too)."""
    available = {graph.inputs[0]} | {t.index for t in graph.tensors if t.is_constant}
    for op in ops:
        for t in _data_inputs(op):
            if t >= 0 and t not in available:
                raise UnsupportedModelError(
                    f"{graph.where(op, t)}: read before any operator writes it (operators out "
                    "of order, or an input the graph does not declare)")
        for t in op.outputs:
            if t in available:
                raise UnsupportedModelError(f"{graph.where(op, t)}: written a second time; "
                                            "each tensor must have one producer")
            available.add(t)
    out = graph.outputs[0]
    if out not in available or graph.tensors[out].is_constant:
        raise UnsupportedModelError(f"{graph.path.name}: graph output {graph.tensor_label(out)} "
                                    "is not computed by any operator")


def lower(graph: Graph) -> list[Step]:
    _check_io(graph)
    ops = live_operators(graph)
    _check_order(graph, ops)
    steps = []
    for op in ops:
        if op.name not in SUPPORTED_OPS:
            raise UnsupportedModelError(
                f"{graph.where(op)}: operator not supported; supported: {', '.join(SUPPORTED_OPS)}"
            )
        steps.append(_LOWERERS[op.name](graph, op))
    return relayout(steps)  # constants laid out for the kernels' load patterns (layout.py)


def _check_io(graph: Graph) -> None:
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UnsupportedModelError(
            f"{graph.path.name}: {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; "
            "the engine supports exactly one of each"
        )
    if not graph.operators:
        raise UnsupportedModelError(f"{graph.path.name}: the model has no operators")
    for role, idx in (("input", graph.inputs[0]), ("output", graph.outputs[0])):
        t = graph.tensors[idx]
        if t.dtype != "INT8":
            hint = (" (convert with full-int8 quantization and tf.int8 inference input and output "
                    "types)") if t.dtype == "FLOAT32" else ""
            hint = " (a uint8 model: re-export with int8 input and output)" if t.dtype == "UINT8" else hint
            raise UnsupportedModelError(
                f"{graph.path.name}: graph {role} {graph.tensor_label(idx)} is {t.dtype}; "
                f"only INT8 is supported{hint}"
            )
        if t.dynamic:
            raise UnsupportedModelError(
                f"{graph.path.name}: graph {role} {graph.tensor_label(idx)} has a dynamic shape "
                f"{list(t.shape)}; only static shapes are supported")
    if graph.inputs[0] == graph.outputs[0]:
        raise UnsupportedModelError(f"{graph.path.name}: the graph output is its input; nothing to compute")
    stream_geometry(graph)


def stream_geometry(graph: Graph) -> tuple[int, int, int]:
    """(rows, width, channels) of the graph input as the streaming API hands it over: a
    [1, H, W, C] image gives H rows of W * C values; rank 3 [1, H, C] gives H rows of C;
    rank 2 [1, C] and rank 1 [C] give one row. A batch other than 1 is refused."""
    t = graph.tensors[graph.inputs[0]]
    shape = [int(d) for d in t.shape]
    where = f"{graph.path.name}: graph input {graph.tensor_label(t.index)}"
    if len(shape) > 4:
        raise UnsupportedModelError(f"{where} has rank {len(shape)}; ranks 1 to 4 are supported")
    if len(shape) >= 2 and shape[0] != 1:
        raise UnsupportedModelError(f"{where} has batch {shape[0]} (shape {shape}); only batch 1 is supported")
    if any(d < 1 for d in shape):
        raise UnsupportedModelError(f"{where} has shape {shape}; every dimension must be at least 1")
    if len(shape) == 4:
        h, w, c = shape[1:]
    elif len(shape) == 3:
        h, w, c = shape[1], 1, shape[2]
    else:
        h, w, c = 1, 1, (shape[-1] if shape else 1)
    if h > 0xFFFF:
        raise UnsupportedModelError(f"{where} has {h} rows; the streaming API counts rows in 16 bits")
    return h, w, c


def _activation(graph: Graph, op: Operator, t: Tensor) -> tuple[int, int]:
    act = op.options.get("FusedActivationFunction", 0)
    if act not in SUPPORTED_ACTIVATIONS:
        raise UnsupportedModelError(
            f"{graph.where(op)}: fused activation {act} not supported; supported: "
            f"{', '.join(SUPPORTED_ACTIVATIONS.values())}"
        )
    return activation_range(act, float(t.scale[0]), int(t.zero_point[0]))


def _activation_tensor(graph: Graph, op: Operator, idx: int) -> Tensor:
    if idx < 0:
        raise UnsupportedModelError(f"{graph.where(op)}: a required tensor is missing")
    t = graph.tensors[idx]
    if t.dtype != "INT8":
        raise UnsupportedModelError(f"{graph.where(op, idx)}: type {t.dtype}; only INT8 activations are supported")
    if t.dynamic:
        raise UnsupportedModelError(f"{graph.where(op, idx)}: dynamic shape {t.shape}; only static shapes are supported")
    if t.scale is None or t.scale.size != 1:
        raise UnsupportedModelError(f"{graph.where(op, idx)}: activations need per-tensor quantization")
    return t


def _filter_tensor(graph: Graph, op: Operator, idx: int) -> Tensor:
    t = graph.tensors[idx] if idx >= 0 else None
    if t is None or not t.is_constant:
        raise UnsupportedModelError(f"{graph.where(op, idx)}: the filter must be a constant tensor")
    if t.dtype != "INT8" or t.scale is None:
        raise UnsupportedModelError(f"{graph.where(op, idx)}: filter type {t.dtype}; only quantized INT8 filters are supported")
    if np.any(t.zero_point != 0):
        raise UnsupportedModelError(f"{graph.where(op, idx)}: filter zero point must be 0 (symmetric int8)")
    return t


def _bias(graph: Graph, op: Operator, idx: int, channels: int) -> np.ndarray:
    if idx < 0:
        return np.zeros(channels, dtype=np.int64)
    t = graph.tensors[idx]
    if t.dtype != "INT32" or not t.is_constant:
        raise UnsupportedModelError(f"{graph.where(op, idx)}: bias must be a constant INT32 tensor, got {t.dtype}")
    return t.data.astype(np.int64).reshape(channels)


def _fold(graph: Graph, op: Operator, bias: np.ndarray, sums: np.ndarray, zp: int) -> np.ndarray:
    folded = bias - int(zp) * sums.astype(np.int64)
    if folded.min() < -(2**31) or folded.max() >= 2**31:
        raise UnsupportedModelError(f"{graph.where(op)}: folded bias overflows int32")
    return folded.astype(np.int32)


def _dims4(t: Tensor) -> tuple[int, int, int, int]:
    """[N, H, W, C] for a tensor of rank 0 to 4: [N, H, C] -> [N, H, 1, C], [N, C] ->
    [N, 1, 1, C], [C] -> [1, 1, 1, C]."""
    shape = [int(d) for d in t.shape]
    if len(shape) == 4:
        return tuple(shape)
    if len(shape) == 3:
        return (shape[0], shape[1], 1, shape[2])
    if len(shape) == 2:
        return (shape[0], 1, 1, shape[1])
    return (1, 1, 1, shape[0] if shape else 1)


def _quant_consts(inp: Tensor, flt: Tensor, out: Tensor, channels: int) -> dict[str, np.ndarray]:
    mults, shifts = channel_multipliers(float(inp.scale[0]), flt.scale, float(out.scale[0]), channels)
    return {"multiplier": np.array(mults, dtype=np.int32), "shift": np.array(shifts, dtype=np.int32)}


def _rounding(op: Operator, flt: Tensor) -> str:
    return REFERENCE_ROUNDING[(op.name, flt.scale.size > 1)]


# Scratch formulas: keep equal to the PK_*_SCRATCH_BYTES macros of pk_engine.h (a kernel
# given less returns PK_ERR_ARG, so every engine test would fail on a mismatch).
def conv2d_1x1_scratch(ic: int, oc: int) -> int:
    return 4 * _align(ic, 8) + 8 * oc


def conv2d_scratch(kh: int, kw: int, ic: int, oc: int) -> int:
    return 6 * _align(kh * kw * ic, 8) + 8 * oc


def depthwise_scratch(kh: int, kw: int, ic: int, oc: int) -> int:
    return 2 * kh * kw * _align(oc, 4) + _align(ic, 4) + 8 * oc


def row_overlap(in_shape, out_shape, stride_h: int, pad_top: int) -> dict:
    """The largest delta (bytes, <= 0) by which a row-streaming kernel's output may start
    before its input: for every output row oy, the end of rows 0..oy of the output must not
    pass the first input row that row oy still reads."""
    _, _, iw, ic = in_shape
    _, oh, ow, oc = out_shape
    in_row, out_row = iw * ic, ow * oc
    delta = min(max(0, oy * stride_h - pad_top) * in_row - (oy + 1) * out_row for oy in range(oh))
    return {"kind": "rows", "min_delta": None, "max_delta": int(delta)}


def pointwise_overlap(ic: int, oc: int) -> dict:
    """A pointwise kernel walks pixels forward when oc <= ic (so its output may start at or
    before its input) and backward otherwise (at or after)."""
    if oc <= ic:
        return {"kind": "pointwise_forward", "min_delta": None, "max_delta": 0}
    return {"kind": "pointwise_backward", "min_delta": 0, "max_delta": None}


def _channel_consts(op: Operator, weights: np.ndarray, bias: np.ndarray, quant: dict,
                    params: dict) -> int:
    """Constant-fold channels whose weights are all zero (their output never depends on the
    input: pruned channels often carry a huge bias and a tiny scale) into an equivalent,
    well-scaled form, and return a bound on |accumulator| over all inputs (0 if it does not
    fit int32). weights: [channels, taps]; bias, quant updated in place."""
    mult, shift = quant["multiplier"], quant["shift"]
    lo, hi, zp = params["act_min"], params["act_max"], params["output_zero_point"]
    for c in np.flatnonzero(~weights.any(axis=1)):
        v = requantize(int(bias[c]), int(mult[c]), int(shift[c]), params["rounding"]) + zp
        v = min(max(v, lo), hi)
        # requantize(4 * d, 2^30, -1) == d for both roundings, so the output is again v.
        bias[c], mult[c], shift[c] = 4 * (v - zp), 1 << 30, -1
    bound = int((np.abs(bias.astype(np.int64)) + 128 * np.abs(weights.astype(np.int64)).sum(axis=1)).max())
    return bound if bound < 2**31 else 0


def _rows(stride: int, pad_top: int, taps: int, dilation: int) -> dict:
    return {"stride": int(stride), "pad_top": int(pad_top), "taps": int(taps), "dilation": int(dilation)}


def _conv_geometry(graph: Graph, op: Operator, inp: Tensor, out: Tensor, kh: int, kw: int) -> dict:
    o = op.options
    sh, sw = o.get("StrideH", 1), o.get("StrideW", 1)
    dh, dw = o.get("DilationHFactor", 1) or 1, o.get("DilationWFactor", 1) or 1
    if o.get("Padding", PADDING_SAME) == PADDING_SAME:
        pt = same_padding(sh, dh, inp.shape[1], kh, out.shape[1])
        pl = same_padding(sw, dw, inp.shape[2], kw, out.shape[2])
    else:
        pt = pl = 0
    return {"stride_h": sh, "stride_w": sw, "pad_top": pt, "pad_left": pl,
            "dilation_h": dh, "dilation_w": dw}


def _lower_conv(graph: Graph, op: Operator) -> Step:
    inp = _activation_tensor(graph, op, op.inputs[0])
    out = _activation_tensor(graph, op, op.outputs[0])
    flt = _filter_tensor(graph, op, op.inputs[1])
    oc, kh, kw, ic = flt.shape
    if ic != inp.shape[3]:
        raise UnsupportedModelError(
            f"{graph.where(op, op.inputs[1])}: filter has {ic} input channels, input has {inp.shape[3]} "
            "(grouped convolution is not supported)"
        )
    bias = _bias(graph, op, op.inputs[2] if len(op.inputs) > 2 else -1, oc)
    zp_in = int(inp.zero_point[0])
    lo, hi = _activation(graph, op, out)
    params = _conv_geometry(graph, op, inp, out, kh, kw)
    params.update(depth_multiplier=1, input_zero_point=zp_in,
                  output_zero_point=int(out.zero_point[0]), act_min=lo, act_max=hi,
                  rounding=_rounding(op, flt))
    pointwise = (kh == kw == 1 and params["stride_h"] == params["stride_w"] == 1
                 and params["pad_top"] == params["pad_left"] == 0)
    consts = {"filter": flt.data, "bias": _fold(graph, op, bias, flt.data.sum(axis=(1, 2, 3), dtype=np.int64), zp_in)}
    consts.update(_quant_consts(inp, flt, out, oc))
    params["acc_abs_max"] = _channel_consts(op, flt.data.reshape(oc, -1), consts["bias"], consts, params)
    if pointwise:
        scratch, overlap = conv2d_1x1_scratch(ic, oc), pointwise_overlap(ic, oc)
    else:
        scratch = conv2d_scratch(kh, kw, ic, oc)
        overlap = row_overlap(inp.shape, out.shape, params["stride_h"], params["pad_top"])
    return Step(op, "pk_conv2d_1x1_s8" if pointwise else "pk_conv2d_s8", inp.index, out.index,
                {"in": _dims4(inp), "filter": (oc, kh, kw, ic), "out": _dims4(out)}, params, consts,
                macs=out.shape[1] * out.shape[2] * oc * kh * kw * ic, scratch=scratch,
                overlap=overlap, rows=_rows(params["stride_h"], params["pad_top"], kh, params["dilation_h"]))


def _lower_depthwise(graph: Graph, op: Operator) -> Step:
    inp = _activation_tensor(graph, op, op.inputs[0])
    out = _activation_tensor(graph, op, op.outputs[0])
    flt = _filter_tensor(graph, op, op.inputs[1])
    _, kh, kw, oc = flt.shape
    ic = inp.shape[3]
    if oc % ic:
        raise UnsupportedModelError(f"{graph.where(op, op.inputs[1])}: {oc} output channels is not a multiple of {ic} input channels")
    bias = _bias(graph, op, op.inputs[2] if len(op.inputs) > 2 else -1, oc)
    zp_in = int(inp.zero_point[0])
    lo, hi = _activation(graph, op, out)
    params = _conv_geometry(graph, op, inp, out, kh, kw)
    params.update(depth_multiplier=oc // ic, input_zero_point=zp_in,
                  output_zero_point=int(out.zero_point[0]), act_min=lo, act_max=hi,
                  rounding=_rounding(op, flt))
    consts = {"filter": flt.data, "bias": _fold(graph, op, bias, flt.data.sum(axis=(0, 1, 2), dtype=np.int64), zp_in)}
    consts.update(_quant_consts(inp, flt, out, oc))
    params["acc_abs_max"] = _channel_consts(op, flt.data.reshape(-1, oc).T, consts["bias"], consts, params)
    return Step(op, "pk_depthwise_conv2d_s8", inp.index, out.index,
                {"in": _dims4(inp), "filter": (1, kh, kw, oc), "out": _dims4(out)}, params, consts,
                macs=out.shape[1] * out.shape[2] * oc * kh * kw,
                scratch=depthwise_scratch(kh, kw, ic, oc),
                overlap=row_overlap(inp.shape, out.shape, params["stride_h"], params["pad_top"]),
                rows=_rows(params["stride_h"], params["pad_top"], kh, params["dilation_h"]))


def _lower_max_pool(graph: Graph, op: Operator) -> Step:
    step = _lower_avg_pool(graph, op)
    step.kernel = "pk_max_pool2d_s8"
    return step


def _lower_pad(graph: Graph, op: Operator) -> Step:
    inp = _activation_tensor(graph, op, op.inputs[0])
    out = _activation_tensor(graph, op, op.outputs[0])
    if inp.scale[0] != out.scale[0] or inp.zero_point[0] != out.zero_point[0]:
        raise UnsupportedModelError(f"{graph.where(op, out.index)}: input and output quantization differ")
    pads = graph.tensors[op.inputs[1]] if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
    if pads is None or not pads.is_constant:
        raise UnsupportedModelError(f"{graph.where(op)}: the paddings must be a constant tensor")
    pads = pads.data.reshape(-1, 2).astype(int)
    if len(inp.shape) != 4 or pads.shape != (4, 2) or pads[0].any() or pads[3].any():
        raise UnsupportedModelError(
            f"{graph.where(op)}: only padding of height and width of a 4-D tensor is supported, "
            f"got paddings {pads.tolist()}")
    value = int(out.zero_point[0])
    if op.name == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        const = graph.tensors[op.inputs[2]]
        if not const.is_constant or const.dtype != "INT8":
            raise UnsupportedModelError(f"{graph.where(op, op.inputs[2])}: the pad value must be a constant int8")
        value = int(const.data.reshape(-1)[0])
    params = {"pad_top": int(pads[1][0]), "pad_bottom": int(pads[1][1]),
              "pad_left": int(pads[2][0]), "pad_right": int(pads[2][1]), "value": value}
    return Step(op, "pk_pad_s8", inp.index, out.index, {"in": _dims4(inp), "out": _dims4(out)},
                params, rows=_rows(1, params["pad_top"], 1, 1))


def _lower_add(graph: Graph, op: Operator) -> Step:
    """TFLite's int8 ADD (same shapes, no broadcasting): inputs shifted left by 20 bits and
    rescaled by scale_i / (2 max(scales)), the sum by 2 max(scales) / (2^20 out_scale)."""
    a = _activation_tensor(graph, op, op.inputs[0])
    b = _activation_tensor(graph, op, op.inputs[1])
    out = _activation_tensor(graph, op, op.outputs[0])
    if tuple(a.shape) != tuple(b.shape) or tuple(a.shape) != tuple(out.shape):
        raise UnsupportedModelError(f"{graph.where(op)}: ADD of shapes {list(a.shape)} and "
                                    f"{list(b.shape)}; broadcasting is not supported")
    left_shift = 20
    sa, sb, so = (float(np.float32(t.scale[0])) for t in (a, b, out))
    twice_max = 2 * max(sa, sb)
    m1, s1 = quantize_multiplier(sa / twice_max)
    m2, s2 = quantize_multiplier(sb / twice_max)
    mo, so_shift = quantize_multiplier(twice_max / float(np.float32((1 << left_shift) * np.float32(so))))
    if max(s1, s2, so_shift) > 0:
        raise UnsupportedModelError(f"{graph.where(op)}: ADD rescaling above one is not supported")
    lo, hi = _activation(graph, op, out)
    params = {"left_shift": left_shift, "input1_zero_point": int(a.zero_point[0]),
              "input2_zero_point": int(b.zero_point[0]), "input1_multiplier": m1,
              "input1_shift": s1, "input2_multiplier": m2, "input2_shift": s2,
              "output_multiplier": mo, "output_shift": so_shift,
              "output_zero_point": int(out.zero_point[0]), "act_min": lo, "act_max": hi,
              "count": int(np.prod(out.shape))}
    return Step(op, "pk_add_s8", a.index, out.index, {"in": _dims4(a), "out": _dims4(out)},
                params, extra_inputs=[b.index])


def _lower_concat(graph: Graph, op: Operator) -> Step:
    """int8 CONCATENATION: the quantization spec makes inputs and output share scale and
    zero point, so it only moves bytes."""
    ins = [_activation_tensor(graph, op, i) for i in op.inputs]
    out = _activation_tensor(graph, op, op.outputs[0])
    for t in ins:
        if t.scale[0] != out.scale[0] or t.zero_point[0] != out.zero_point[0]:
            raise UnsupportedModelError(f"{graph.where(op, t.index)}: inputs and output of an int8 "
                                        "concatenation must share scale and zero point")
    if op.options.get("FusedActivationFunction", 0) != 0:
        raise UnsupportedModelError(f"{graph.where(op)}: a fused activation on CONCATENATION is not supported")
    rank = len(out.shape)
    axis = int(op.options.get("Axis", -1)) % rank
    outer = int(np.prod(out.shape[:axis], dtype=np.int64))
    inner = [int(np.prod(t.shape[axis:], dtype=np.int64)) for t in ins]
    return Step(op, "pk_concat_s8", ins[0].index, out.index, {}, {"outer": outer, "inner": inner},
                extra_inputs=[t.index for t in ins[1:]])


def _lower_mean(graph: Graph, op: Operator) -> Step:
    """MEAN over height and width. LiteRT's reference (measured: tests/test_engine_exact.py)
    folds 1/count into the multiplier: shift = min(floor(log2(count)), 32, 31 + out_shift),
    multiplier = (m << shift) // count, then requantizes sum - count * input_zp."""
    inp = _activation_tensor(graph, op, op.inputs[0])
    out = _activation_tensor(graph, op, op.outputs[0])
    axis = graph.tensors[op.inputs[1]] if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
    if axis is None or not axis.is_constant or len(inp.shape) != 4 or \
            sorted(int(a) % 4 for a in axis.data.reshape(-1)) != [1, 2]:
        raise UnsupportedModelError(f"{graph.where(op)}: only MEAN over height and width of a 4-D "
                                    "tensor (global average pooling) is supported")
    if inp.scale[0] == out.scale[0] and inp.zero_point[0] == out.zero_point[0]:
        raise UnsupportedModelError(
            f"{graph.where(op, out.index)}: MEAN with equal input and output quantization takes a "
            "different path in LiteRT's reference kernels that the engine does not implement yet")
    count = int(inp.shape[1] * inp.shape[2])
    m, sh = quantize_multiplier(float(np.float32(inp.scale[0])) / float(np.float32(out.scale[0])))
    shift = min(count.bit_length() - 1, 32, 31 + sh)
    params = {"multiplier": int((m << shift) // count), "shift": sh - shift,
              "input_zero_point": int(inp.zero_point[0]), "output_zero_point": int(out.zero_point[0])}
    return Step(op, "pk_mean_s8", inp.index, out.index, {"in": _dims4(inp), "out": _dims4(out)},
                params, macs=count * int(inp.shape[3]))


def _lower_avg_pool(graph: Graph, op: Operator) -> Step:
    inp = _activation_tensor(graph, op, op.inputs[0])
    out = _activation_tensor(graph, op, op.outputs[0])
    if inp.scale[0] != out.scale[0] or inp.zero_point[0] != out.zero_point[0]:
        raise UnsupportedModelError(f"{graph.where(op, out.index)}: input and output quantization differ")
    o = op.options
    fh, fw, sh, sw = o["FilterHeight"], o["FilterWidth"], o["StrideH"], o["StrideW"]
    if o.get("Padding", PADDING_SAME) == PADDING_SAME:
        pt = same_padding(sh, 1, inp.shape[1], fh, out.shape[1])
        pl = same_padding(sw, 1, inp.shape[2], fw, out.shape[2])
    else:
        pt = pl = 0
    lo, hi = _activation(graph, op, out)
    params = {"stride_h": sh, "stride_w": sw, "pad_top": pt, "pad_left": pl,
              "filter_h": fh, "filter_w": fw, "act_min": lo, "act_max": hi}
    return Step(op, "pk_avg_pool2d_s8", inp.index, out.index,
                {"in": _dims4(inp), "out": _dims4(out)}, params,
                macs=out.shape[1] * out.shape[2] * out.shape[3] * fh * fw,
                overlap=row_overlap(_dims4(inp), _dims4(out), sh, pt), rows=_rows(sh, pt, fh, 1))


def _lower_fully_connected(graph: Graph, op: Operator) -> Step:
    inp = _activation_tensor(graph, op, op.inputs[0])
    out = _activation_tensor(graph, op, op.outputs[0])
    flt = _filter_tensor(graph, op, op.inputs[1])
    oc, ic = flt.shape
    if int(np.prod(inp.shape)) != ic:
        raise UnsupportedModelError(f"{graph.where(op, inp.index)}: input of {int(np.prod(inp.shape))} values, weights expect {ic} (batch > 1 is not supported)")
    bias = _bias(graph, op, op.inputs[2] if len(op.inputs) > 2 else -1, oc)
    zp_in = int(inp.zero_point[0])
    lo, hi = _activation(graph, op, out)
    params = {"stride_h": 1, "stride_w": 1, "pad_top": 0, "pad_left": 0, "dilation_h": 1,
              "dilation_w": 1, "depth_multiplier": 1, "input_zero_point": zp_in,
              "output_zero_point": int(out.zero_point[0]), "act_min": lo, "act_max": hi,
              "rounding": _rounding(op, flt)}
    consts = {"filter": flt.data, "bias": _fold(graph, op, bias, flt.data.sum(axis=1, dtype=np.int64), zp_in)}
    consts.update(_quant_consts(inp, flt, out, oc))
    params["acc_abs_max"] = _channel_consts(op, flt.data.reshape(oc, -1), consts["bias"], consts, params)
    return Step(op, "pk_fully_connected_s8", inp.index, out.index,
                {"in": (1, 1, 1, ic), "filter": (oc, 1, 1, ic), "out": (1, 1, 1, oc)}, params, consts,
                macs=oc * ic)


def _lower_reshape(graph: Graph, op: Operator) -> Step:
    inp = _activation_tensor(graph, op, op.inputs[0])
    out = _activation_tensor(graph, op, op.outputs[0])
    if np.prod(inp.shape) != np.prod(out.shape):
        raise UnsupportedModelError(f"{graph.where(op, out.index)}: reshape changes the element count")
    if inp.scale[0] != out.scale[0] or inp.zero_point[0] != out.zero_point[0]:
        raise UnsupportedModelError(f"{graph.where(op, out.index)}: reshape changes quantization")
    return Step(op, "alias", inp.index, out.index)


def _lower_softmax(graph: Graph, op: Operator) -> Step:
    inp = _activation_tensor(graph, op, op.inputs[0])
    out = _activation_tensor(graph, op, op.outputs[0])
    if not (np.isclose(out.scale[0], 1.0 / 256) and out.zero_point[0] == -128):
        raise UnsupportedModelError(
            f"{graph.where(op, out.index)}: softmax output must have scale 1/256 and zero point "
            f"-128, got {out.scale[0]} and {out.zero_point[0]}"
        )
    multiplier, shift, diff_min = softmax_scaling(op.options.get("Beta", 1.0), float(inp.scale[0]))
    params = {"input_multiplier": multiplier, "input_left_shift": shift, "diff_min": diff_min}
    return Step(op, "pk_softmax_s8", inp.index, out.index, {"in": _dims4(inp), "out": _dims4(out)},
                params)


_LOWERERS = {
    "SOFTMAX": _lower_softmax,
    "CONV_2D": _lower_conv,
    "DEPTHWISE_CONV_2D": _lower_depthwise,
    "AVERAGE_POOL_2D": _lower_avg_pool,
    "MAX_POOL_2D": _lower_max_pool,
    "PAD": _lower_pad,
    "PADV2": _lower_pad,
    "MEAN": _lower_mean,
    "ADD": _lower_add,
    "CONCATENATION": _lower_concat,
    "FULLY_CONNECTED": _lower_fully_connected,
    "RESHAPE": _lower_reshape,
    "EXPAND_DIMS": _lower_reshape,
    "SQUEEZE": _lower_reshape,
}

