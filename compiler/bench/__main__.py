"""`make bench`: the engine on every model and emulated board.

    python -m compiler.bench --out build/bench [--inputs 1000] [--boards an386,an547]

For each model (the MLPerf VWW reference; the newest demo model under runs/, else a small
generated one) and each emulated board whose port exists, it compiles the model, builds
the bench firmware (firmware/bench/) and runs N seeded random inputs plus extreme inputs
and camera-like frames (compiler/bench/inputs.py) in QEMU, comparing every full int8
output vector with LiteRT's reference kernels; then runs the random inputs through TFLM's
Python interpreter. Instruction counts are QEMU's executed instructions, not cycles,
counted exactly from outside the guest (compiler/bench/insn_count.py), per inference and
per layer: the spread (max - min over all inputs) must be 0 (constant time). Figures
before issue 14's kernel work (compiler/bench/baseline.json) stand beside today's.
Writes bench.md (tables), bench.json, and per model memory_plan.png.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from compiler.bench.device import FIRMWARE, REPO, available_boards, build_image, run_bench
from compiler.bench.inputs import constant_time_inputs
from compiler.bench.plot import plot_memory_plan
from compiler.bench.tflm import run_tflm

MLPERF = Path(os.environ.get("PEEKLESS_SHARED", REPO.parent / "shared")) / "models" / "mlperf_vww_96_int8.tflite"
BENCH_DEFINES = ("-include", str(FIRMWARE / "bench" / "bench_trace.h"))
BASELINE = Path(__file__).with_name("baseline.json")
CAMERA_FRAMES = 32


def load_baseline() -> dict:
    """Per model sha256: the figures before issue 14 (see the file's note)."""
    return json.loads(BASELINE.read_text())["models"] if BASELINE.exists() else {}


def layer_counts(layers: list[dict], marked) -> list[int]:
    """Per layer of the generated code, from the exact per-layer marks: a reshape
    ("alias") moves no data and has no mark."""
    marked = [int(v) for v in marked]
    out, k = [], 0
    for layer in layers:
        if layer["kernel"] == "alias":
            out.append(0)
        else:
            out.append(marked[k] if k < len(marked) else 0)
            k += 1
    return out


def find_models(out: Path) -> list[tuple[str, Path]]:
    models = []
    if MLPERF.exists():
        models.append(("mlperf_vww_96", MLPERF))
    else:
        print(f"note: {MLPERF} missing; the MLPerf reference is skipped", file=sys.stderr)
    demos = sorted((REPO / "runs").glob("demo-*/model/model_int8.tflite"),
                   key=lambda p: p.stat().st_mtime)
    if demos:
        models.append((f"demo ({demos[-1].parts[-3]})", demos[-1]))
    else:
        from compiler.bench.models import small_model

        models.append(("small generated", small_model(out / "models" / "small_int8.tflite")))
    return models


def reference_outputs(tflite: Path, x: np.ndarray, cache: Path) -> np.ndarray:
    """LiteRT BUILTIN_REF outputs, cached by model hash and inputs hash."""
    from training.reference import litert_reference

    key = hashlib.sha256(tflite.read_bytes() + x.tobytes()).hexdigest()[:16]
    path = cache / f"litert_{key}.npy"
    if path.exists():
        return np.load(path)
    ref = litert_reference(tflite, x)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, ref)
    return ref


def bench_model(name: str, tflite: Path, boards: list[str], n: int, out: Path, seed: int) -> dict:
    from compiler import compile_model
    from compiler.lower import lower
    from compiler.planner import plan_memory
    from compiler.tflite_reader import read_tflite

    slug = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")
    gen = out / slug / "generated"
    result = compile_model(tflite, gen)
    # Per-layer figures come from a build without row bands: a fused chain's layers run
    # interleaved, so the product build's marks put the chain's total on its first layer.
    whole = compile_model(tflite, out / slug / "generated-whole", fuse=False)
    graph = read_tflite(tflite)
    plain = plan_memory(graph, lower(graph), overlap=False).arena_bytes
    shape = graph.tensors[graph.inputs[0]].shape[1:]
    input_bytes = int(np.prod(shape))
    x = np.random.default_rng(seed).integers(-128, 128, size=(n, *shape), dtype=np.int8)
    ct_names, ct = constant_time_inputs(tuple(shape), seed, camera=CAMERA_FRAMES)
    x_all = np.concatenate([x, ct])
    t0 = time.monotonic()
    ref = reference_outputs(tflite, x_all, out / "cache")
    print(f"[{name}] LiteRT reference on {len(x_all)} inputs: {time.monotonic() - t0:.1f} s",
          flush=True)
    plot_memory_plan(json.loads((gen / "memory_plan.json").read_text()),
                     out / f"{slug}_memory_plan.png", title=f"{name}: memory plan")

    entry = {"model": name, "tflite": str(tflite), "sha256": result.model_sha256,
             "macs": result.macs, "arena_bytes": result.arena_bytes,
             "arena_bytes_whole_layers": whole.arena_bytes,
             "fused_chains": [list(c["layers"]) for c in json.loads(
                 (gen / "memory_plan.json").read_text()).get("fused_chains", [])],
             "arena_bytes_without_overlap": plain, "input_bytes": input_bytes,
             "weight_bytes_compiler": result.weight_bytes, "inputs": n, "seed": seed,
             "other_inputs": ct_names, "layers": result.layers, "boards": {},
             "before": load_baseline().get(result.model_sha256)}
    for board in boards:
        t0 = time.monotonic()
        image = build_image(board, FIRMWARE / "bench" / "bench_main.c", out / slug / board, gen,
                            defines=BENCH_DEFINES)
        run = run_bench(image, x_all, ref.shape[1], exact=True)
        ref_image = build_image(board, FIRMWARE / "bench" / "bench_main.c",
                                out / slug / f"{board}-ref", gen,
                                defines=(*BENCH_DEFINES, "-DPK_KERNELS_REF"))
        ref_run = run_bench(ref_image, x[:1], ref.shape[1], exact=True)
        whole_image = build_image(board, FIRMWARE / "bench" / "bench_main.c",
                                  out / slug / f"{board}-whole",
                                  out / slug / "generated-whole", defines=BENCH_DEFINES)
        whole_run = run_bench(whole_image, x[:1], ref.shape[1], exact=True)
        mismatched = int(np.count_nonzero(np.any(run.outputs != ref, axis=1)))
        counts = run.exact.inferences
        layer_spread = run.exact.layers.max(axis=0) - run.exact.layers.min(axis=0)
        entry["boards"][board] = {
            "variant": run.variant,
            "instructions_mean": float(counts.mean()),
            "instructions_min": int(counts.min()),
            "instructions_max": int(counts.max()),
            "instructions_spread": int(counts.max() - counts.min()),
            "layer_spread_max": int(layer_spread.max(initial=0)),
            "instructions_timer_mean": float(run.instructions.mean()),
            "instructions_per_mac": float(counts.mean()) / result.macs,
            "instructions_ref_kernels": int(ref_run.exact.inferences[0]),
            "layer_instructions": layer_counts(whole.layers, whole_run.exact.layers[0]),
            "instructions_whole_layers": int(whole_run.exact.inferences[0]),
            "layer_instructions_ref_kernels": layer_counts(result.layers, ref_run.exact.layers[0]),
            "code_bytes": image.code_bytes,
            "weight_bytes": image.weight_bytes,
            "exact": mismatched == 0,
            "mismatched_inputs": mismatched,
            "emulator_wall_s": round(run.wall_s, 2),
        }
        print(f"[{name}] {board} ({run.variant}): {counts.mean() / 1e6:.3f} M "
              f"instructions/inference, spread {counts.max() - counts.min()}, "
              f"{'exact' if mismatched == 0 else f'{mismatched} inputs differ'}"
              f" on {len(x_all)} inputs ({time.monotonic() - t0:.0f} s)", flush=True)
    t0 = time.monotonic()
    tflm = run_tflm(tflite, x)
    if tflm.available:
        diff = np.abs(tflm.outputs.astype(np.int32) - ref[:n].astype(np.int32))
        rows = np.flatnonzero(diff.any(axis=1))
        entry["tflm"] = {"available": True, "version": tflm.version,
                         "arena_bytes": tflm.arena_bytes, "exact": len(rows) == 0,
                         "mismatched_inputs": len(rows), "max_lsb": int(diff.max(initial=0)),
                         "mismatches": [{"input": int(r), "tflm": tflm.outputs[r].tolist(),
                                         "litert": ref[r].tolist()} for r in rows[:5]]}
    else:
        entry["tflm"] = {"available": False, "reason": tflm.reason}
    print(f"[{name}] TFLM: {entry['tflm']} ({time.monotonic() - t0:.0f} s)", flush=True)
    return entry


def _k(v: float) -> str:
    return f"{v:,.0f}"


def _before(e: dict, board: str) -> dict | None:
    return (e.get("before") or {}).get("boards", {}).get(board)


def _change(now: float, before: float | None) -> str:
    return f"{(now - before) / before:+.0%}" if before else ""


def render_markdown(entries: list[dict]) -> str:
    intro = ("Instructions are QEMU's executed instructions per inference, **not cycles** (QEMU "
             "has no cycle model), counted exactly by a plugin outside the guest "
             "(compiler/bench/insn_count.py). `spread` = max - min over all inputs (N seeded "
             "random ones, all-zero, all +127, all -128, a +127/-128 checkerboard, tiny values "
             f"and {CAMERA_FRAMES} camera-like frames): 0 means constant time. `before` = the "
             "same model and board before issue 14's kernel work (compiler/bench/baseline.json: "
             "firmware timer, 40-instruction resolution). Arena = peak activation RAM of the "
             "memory plan: activations, kernel scratch, row-band buffers and the input rows the "
             "model holds (the model pulls its input through the streaming API, so the caller "
             "holds no input buffer). Code B = .text of the engine and the generated model code kept in the linked "
             "image (the bench's own main and the board port excluded); weights B = the model's "
             "read-only data. Exact = every int8 output vector equal to LiteRT's reference "
             "kernels (BUILTIN_REF) on all inputs. `ref kernels` = the same build with the "
             "portable reference kernels (`-DPK_KERNELS_REF`), first input.")
    lines = ["# Engine benchmark", "", intro, "",
             ("| model | board | kernels | MACs | instructions | before | change | instr/MAC | "
              "spread | ref kernels | arena B | code B | code B before | weights B | "
              "exact (N) | TFLM exact | TFLM arena B |"),
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|"]
    for e in entries:
        t = e["tflm"]
        tflm_exact = ("yes" if t["exact"] else f"no ({t['mismatched_inputs']})") if t["available"] else f"n/a: {t['reason']}"
        tflm_arena = _k(t["arena_bytes"]) if t["available"] else "n/a"
        n_all = e["inputs"] + len(e.get("other_inputs", []))
        for board, b in e["boards"].items():
            old = _before(e, board)
            lines.append(
                f"| {e['model']} | {board} | {b['variant']} | {_k(e['macs'])} | "
                f"{_k(b['instructions_mean'])} | {_k(old['instructions']) if old else ''} | "
                f"{_change(b['instructions_mean'], old['instructions'] if old else None)} | "
                f"{b['instructions_per_mac']:.2f} | {b['instructions_spread']} | "
                f"{_k(b['instructions_ref_kernels'])} | {_k(e['arena_bytes'])} | "
                f"{_k(b['code_bytes'])} | {_k(old['code_bytes']) if old else ''} | "
                f"{_k(b['weight_bytes'])} | "
                f"{'yes' if b['exact'] else 'NO (' + str(b['mismatched_inputs']) + ')'} ({n_all}) | "
                f"{tflm_exact} | {tflm_arena} |")
    lines.append("")
    for e in entries:
        slug = "".join(ch if ch.isalnum() else "_" for ch in e["model"]).strip("_")
        lines += [f"## {e['model']}: per layer", "",
                  (f"Arena {_k(e['arena_bytes'])} B with overlapping buffers "
                   f"({_k(e['arena_bytes_without_overlap'])} B without overlap, "
                   f"{_k(e.get('arena_bytes_whole_layers', 0))} B without row bands); model input "
                   f"{_k(e['input_bytes'])} B, never whole in RAM where the first layers are "
                   "fused. Memory plan: "
                   f"`{slug}_memory_plan.png`. Layers below are whole layers (a build without "
                   "row bands, first input: "
                   + ", ".join(f"{b} {_k(v['instructions_whole_layers'])}"
                               for b, v in e["boards"].items() if "instructions_whole_layers" in v)
                   + " instructions in all); fused chains (layers "
                   + (", ".join(f"{a}-{z}" for a, z in e.get("fused_chains", [])) or "none")
                   + ") run interleaved in the product build, whose total is in the table "
                   "above. Every layer's count is the same for every input (largest per-layer "
                   "spread in the product build: "
                   + ", ".join(f"{b} {v['layer_spread_max']}" for b, v in e["boards"].items())
                   + ")."), ""]
        boards = list(e["boards"])
        head = "| layer | op | kernel | MACs | " + " | ".join(
            f"{b} before | {b} instr | {b} instr/MAC" for b in boards) + " |"
        lines += [head, "|---|---|---|---:|" + "---:|---:|---:|" * len(boards)]
        for i, layer in enumerate(e["layers"]):
            cells = []
            for b in boards:
                li = e["boards"][b]["layer_instructions"]
                v = li[i] if i < len(li) else 0
                old = _before(e, b)
                ol = old["layer_instructions"] if old else []
                before = _k(ol[i]) if i < len(ol) and len(ol) == len(li) else ""
                per_mac = f"{v / layer['macs']:.2f}" if layer["macs"] else ""
                cells.append(f"{before} | {_k(v)} | {per_mac}")
            lines.append(f"| {i} | {layer['op']} | {layer['kernel']} | {_k(layer['macs'])} | "
                         + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m compiler.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("build/bench"))
    ap.add_argument("--inputs", type=int, default=1000,
                    help="seeded random inputs per model and board (default 1000)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--boards", default=",".join(available_boards()),
                    help="comma-separated (default: every board whose port exists)")
    args = ap.parse_args(argv)
    boards = [b for b in args.boards.split(",") if b]
    missing = [b for b in boards if b not in available_boards()]
    if missing:
        ap.error(f"no port for {', '.join(missing)}; available: {', '.join(available_boards())}")
    args.out.mkdir(parents=True, exist_ok=True)
    entries = [bench_model(name, path, boards, args.inputs, args.out, args.seed)
               for name, path in find_models(args.out)]
    md = render_markdown(entries)
    (args.out / "bench.md").write_text(md)
    (args.out / "bench.json").write_text(json.dumps({"note": "instructions, not cycles (QEMU, counted exactly)",
                                                     "entries": entries}, indent=1))
    print()
    print(md)
    ok = all(b["exact"] and b["instructions_spread"] == 0 and b["layer_spread_max"] == 0
             for e in entries for b in e["boards"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
