"""Render the generated C from templates (never by string concatenation)."""

from __future__ import annotations

from pathlib import Path

import jinja2
import numpy as np

from compiler.lower import Step
from compiler.planner import MemoryPlan
from compiler.tflite_reader import Graph

VALUES_PER_LINE = 24


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
    _, offset = plan.location[tensor]
    return f"arena + {offset}"


def render(graph: Graph, steps: list[Step], plan: MemoryPlan, context: dict, out_dir: Path) -> list[Path]:
    env = _environment()
    views = [
        {
            "kernel": s.kernel, "op_name": s.op.name, "op_index": s.op.index,
            "in_shape": list(graph.tensors[s.input].shape), "out_shape": list(graph.tensors[s.output].shape),
            "dims": s.dims, "params": s.params, "consts": s.consts, "macs": s.macs,
            "out_bytes": graph.tensors[s.output].num_bytes,
            "src": _pointer(plan, s.input), "dst": _pointer(plan, s.output),
            "srcs": [_pointer(plan, t) for t in s.inputs],
            "scratch_ptr": f"arena + {plan.scratch[i][0]}" if i in plan.scratch else "NULL",
            "scratch_bytes": plan.scratch[i][1] if i in plan.scratch else 0,
        }
        for i, s in enumerate(steps)
    ]
    ctx = dict(context, steps=views, layers=len(steps), output_src=_pointer(plan, graph.outputs[0]),
               input_dst=_pointer(plan, graph.inputs[0]),
               arena_bytes=max(plan.arena_bytes, 16))
    written = []
    for name in ("peekless_model.h", "peekless_model.c"):
        path = out_dir / name
        path.write_text(env.get_template(name + ".j2").render(**ctx))
        written.append(path)
    return written
