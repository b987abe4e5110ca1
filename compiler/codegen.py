"""Render the generated C from templates (never by string concatenation)."""

from __future__ import annotations

from pathlib import Path

import jinja2
import numpy as np

from compiler.bands import FILL, LAYER, MOVE
from compiler.lower import Step
from compiler.planner import MemoryPlan, chain_bases
from compiler.tflite_reader import Graph

VALUES_PER_LINE = 24
# The argument list of each kernel's call (the template's kernel_call): "window" (params,
# in and out dims), "whole" (params, in dims), "fc" (params and constants), "conv" (a
# scratch context, params and constants; every other kernel the macro is called for).
CALL_FORMS = {
    "pk_avg_pool2d_s8": "window", "pk_max_pool2d_s8": "window", "pk_pad_s8": "window",
    "pk_mean_s8": "whole", "pk_softmax_s8": "whole",
    "pk_fully_connected_s8": "fc",
}


def c_array(values: np.ndarray) -> str:
    flat = np.asarray(values).reshape(-1).tolist()
    lines = (", ".join(str(v) for v in flat[i:i + VALUES_PER_LINE])
             for i in range(0, len(flat), VALUES_PER_LINE))
    return ",\n".join("    " + line for line in lines)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["c_array"] = c_array
    return env


def _pointer(plan: MemoryPlan, tensor: int) -> str:
    """Where a tensor lives; a chain's intermediates (and a streamed input) live nowhere
    whole, and nothing refers to them."""
    if tensor not in plan.location:
        return "NULL"
    _, offset = plan.location[tensor]
    return f"arena + {offset}"


_BAND_KINDS = {FILL: 0, LAYER: 1, MOVE: 2}  # BAND_FILL, BAND_LAYER, BAND_MOVE in the template
MAX_PERIOD = 32  # longest run of operations searched for repeats


def _chain_view(plan: MemoryPlan, n: int) -> dict:
    """A chain's schedule as the generated tables: operations (layer, kind, pad_top, a, b,
    src, dst) with offsets resolved, compressed into segments."""
    c = plan.chains[n]
    bases = chain_bases(plan, n)
    ops = [(max(op.layer, 0), _BAND_KINDS[op.kind], op.pad_top, op.a, op.b,
            bases[op.src[0]] + op.src[1] if op.kind != FILL else 0, bases[op.dst[0]] + op.dst[1])
           for op in c.ops]
    segments, base, deltas = compress_ops(ops)
    return {"first": c.first, "last": c.last, "count": len(ops), "segments": segments,
            "ops": base, "deltas": [d[2:] for d in deltas], "block_bytes": c.block_bytes,
            "block_offset": plan.chain_blocks[n], "scratch": (plan.chain_blocks[n] + c.scratch[0], c.scratch[1])}


def compress_ops(ops: list[tuple[int, ...]]):
    """Encode a schedule as segments (first, count, repeat, delta): operations
    base[first:first + count] run `repeat` times, the m-th time with m * deltas[delta + k]
    added to operation k's fields (a steady state of band calls repeats with offsets
    advancing by a fixed step). Greedy: at each position the repeat that saves most table
    entries, else a plain operation. Checked by expanding it again."""
    segments, base, deltas, plain = [], [], [], []

    def flush():
        if plain:
            segments.append((len(base), len(plain), 1, 0))
            base.extend(plain)
            plain.clear()

    i = 0
    while i < len(ops):
        best = None
        for p in range(1, min(MAX_PERIOD, (len(ops) - i) // 2) + 1):
            d = [tuple(x - y for x, y in zip(ops[i + p + k], ops[i + k])) for k in range(p)]
            if any(dk[0] or dk[1] or not all(-0x8000 <= v < 0x8000 for v in dk[2:5]) for dk in d):
                continue  # layer and kind never change within a repeat; band_delta is 16-bit
            n = 2
            while i + (n + 1) * p <= len(ops) and all(
                    ops[i + n * p + k] == tuple(x + n * y for x, y in zip(ops[i + k], d[k]))
                    for k in range(p)):
                n += 1
            saved = (n - 2) * p  # entries not written, less the deltas
            if saved > 0 and (best is None or saved > best[0]):
                best = (saved, p, n, d)
        if best is None:
            plain.append(ops[i])
            i += 1
            continue
        flush()
        _, p, n, d = best
        segments.append((len(base), p, n, len(deltas)))
        base.extend(ops[i:i + p])
        deltas.extend(d)
        i += n * p
    flush()
    expanded = []
    for first, count, repeat, delta in segments:
        for m in range(repeat):
            for k in range(count):
                op = base[first + k]
                if repeat > 1:
                    op = tuple(x + m * y for x, y in zip(op, deltas[delta + k]))
                expanded.append(op)
    assert expanded == ops, "band table compression does not expand to the schedule"
    return segments, base, deltas


def render(graph: Graph, steps: list[Step], plan: MemoryPlan, context: dict, out_dir: Path) -> list[Path]:
    env = _environment()
    chains = [_chain_view(plan, n) for n in range(len(plan.chains))]
    chain_of = {i: n for n, c in enumerate(plan.chains) for i in c.steps}
    views = [
        {
            "kernel": s.kernel, "call": CALL_FORMS.get(s.kernel, "conv"),
            "op_name": s.op.name, "op_index": s.op.index,
            "in_shape": list(graph.tensors[s.input].shape), "out_shape": list(graph.tensors[s.output].shape),
            "dims": s.dims, "params": s.params, "consts": s.consts, "macs": s.macs,
            "out_bytes": graph.tensors[s.output].num_bytes,
            "index": i, "chain": chain_of.get(i),
            "chain_first": i in chain_of and plan.chains[chain_of[i]].first == i,
            "chain_last": i in chain_of and plan.chains[chain_of[i]].last == i,
            "chain_scratch": chains[chain_of[i]]["scratch"] if i in chain_of else None,
            "src": _pointer(plan, s.input), "dst": _pointer(plan, s.output),
            "srcs": [_pointer(plan, t) for t in s.inputs],
            "scratch_ptr": f"arena + {plan.scratch[i][0]}" if i in plan.scratch else "NULL",
            "scratch_bytes": plan.scratch[i][1] if i in plan.scratch else 0,
        }
        for i, s in enumerate(steps)
    ]
    ctx = dict(context, steps=views, layers=len(steps), output_src=_pointer(plan, graph.outputs[0]),
               input_dst=_pointer(plan, graph.inputs[0]), chains=chains,
               input_streamed=any(c.streamed for c in plan.chains),
               arena_bytes=max(plan.arena_bytes, 16))
    written = []
    for name in ("peekless_model.h", "peekless_model.c"):
        path = out_dir / name
        path.write_text(env.get_template(name + ".j2").render(**ctx))
        written.append(path)
    return written
