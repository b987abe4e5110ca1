"""compile_model: .tflite in, generated C + memory plan out."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compiler.bands import Chain
from compiler.codegen import render
from compiler.fusion import choose_chains
from compiler.lower import Step, lower, stream_geometry
from compiler.planner import plan_memory
from compiler.tflite_reader import Graph, read_tflite

COMPILER_VERSION = "0.1.0"
TOOL = f"peekless-compiler {COMPILER_VERSION}"


@dataclass
class CompileResult:
    out_dir: Path
    model_sha256: str
    arena_bytes: int
    weight_bytes: int
    macs: int
    layers: list[dict]

    def to_json(self) -> dict:
        return {"model_sha256": self.model_sha256, "arena_bytes": self.arena_bytes,
                "weight_bytes": self.weight_bytes, "macs": self.macs, "layers": self.layers}


def compile_model(tflite_path: Path, out_dir: Path, person_index: int = 1,
                  fuse: bool | Callable[[Graph, list[Step]], list[Chain]] = True) -> CompileResult:
    """Compile a full-int8 .tflite into out_dir/peekless_model.{c,h} and memory_plan.json.
    fuse: True lets compiler/fusion.py choose which layers run fused in row bands; False
    runs every layer whole (more memory; the bench's per-layer instruction counts); a
    function (graph, steps) -> chains imposes a choice (tests use fusion.fuse_everything)."""
    graph = read_tflite(Path(tflite_path))
    steps = lower(graph)
    chooser = choose_chains if fuse is True else fuse if callable(fuse) else None
    plan = plan_memory(graph, steps, chains=chooser(graph, steps) if chooser else ())
    streamed = [c for c in plan.chains if c.streamed]
    fills = [(op.a, op.b) for op in streamed[0].fills] if streamed else None
    inp, out = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    h, w, c = stream_geometry(graph)
    sha = graph.sha256
    context = {
        "tool": TOOL, "model_name": graph.path.name, "sha256": sha,
        "sha256_bytes": "{ " + ", ".join(f"0x{sha[i:i + 2]}" for i in range(0, 64, 2)) + " }",
        "input_h": h, "input_w": w, "input_c": c, "input_bytes": inp.num_bytes,
        "output_bytes": out.num_bytes, "person_index": person_index,
        "stream_rows_max": max(n for _, n in fills) if fills else h,
        "stream_calls": len(fills) if fills else 1,
        "macs": sum(s.macs for s in steps),
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    render(graph, steps, plan, context, out_dir)
    layers = [
        {"layer": i, "op": s.op.name, "operator_index": s.op.index, "kernel": s.kernel,
         "input_shape": list(graph.tensors[s.input].shape),
         "output_shape": list(graph.tensors[s.output].shape), "macs": s.macs,
         "weight_bytes": int(sum(np.asarray(v).nbytes for v in s.consts.values()))}
        for i, s in enumerate(steps)
    ]
    result = CompileResult(out_dir, sha, plan.arena_bytes,
                           sum(layer["weight_bytes"] for layer in layers), context["macs"], layers)
    (out_dir / "memory_plan.json").write_text(json.dumps(
        dict(plan.to_json(graph), tool=TOOL, model=graph.path.name, model_sha256=sha), indent=1))
    (out_dir / "compile_report.json").write_text(json.dumps(dict(result.to_json(), tool=TOOL), indent=1))
    return result
