"""`make bench` (RAM part): what the production image holds in RAM, per model and board.

    python scripts/bench_ram.py --out build/bench [--boards an386,an500,an547]

For the MLPerf VWW model and the demo model (the newest one trained under runs/, else the
demo's architecture, doorbell_mobilenet width 0.25 on 96x96 gray, with untrained weights:
RAM does not depend on weight values), each emulated board: builds the production image
for the default camera (QVGA RGB565), measures static RAM (.data + .bss) from the ELF and
the stack's high-water mark on the emulator (frames of every camera format fed through
the emulated sensor, the painted stack read back at every frame), and states the largest
pixel buffer. Writes bench_ram.md and bench_ram.json; exits 1 if a target of issue 15 is
missed (MLPerf VWW on an386 within 64 KB, the demo model within 40 KB).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from host_tools.firmware_build import FIRMWARE
from host_tools.ram_usage import measure_ram, model_input_bytes, ram_report

SHARED = Path(os.environ.get("PEEKLESS_SHARED", REPO.parent / "shared"))
MLPERF = SHARED / "models" / "mlperf_vww_96_int8.tflite"
BOARDS = ("an386", "an500", "an547")
# Issue 15's targets: model name -> (bytes, boards it applies to).
TARGETS = {"mlperf_vww_96": (65_536, ("an386",)), "demo": (40_960, BOARDS)}
ENGINE_CACHE = Path(tempfile.gettempdir()) / f"peekless-engine-cache-{os.getuid()}"


def demo_model(out: Path) -> tuple[str, Path]:
    """The newest trained demo model, else the demo architecture with untrained weights."""
    runs = sorted((REPO / "runs").glob("demo-*/model/model_int8.tflite"),
                  key=lambda p: p.stat().st_mtime)  # fmt: skip
    if runs:
        return f"demo ({runs[-1].parts[-3]})", runs[-1]
    path = out / "models" / "demo_arch_untrained_int8.tflite"
    if not path.exists():
        import keras
        import numpy as np
        import tensorflow as tf

        from training.model import build_model

        keras.utils.set_random_seed(0)
        model = build_model((96, 96, 1), 2, width=0.25, seed=0)
        rng = np.random.default_rng(0)
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: (
            [rng.random((1, 96, 96, 1), dtype=np.float32)] for _ in range(16)
        )
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(conv.convert())
    return "demo (doorbell_mobilenet 0.25, 96x96x1, untrained weights)", path


def build(board: str, model_dir: Path, out: Path) -> Path:
    cmd = ["make", "-C", str(FIRMWARE), f"-j{os.cpu_count() or 1}", f"BOARD={board}",
           "BUILD=production", f"MODEL_DIR={model_dir}", f"OUT={out}",
           f"ENGINE_CACHE={ENGINE_CACHE}"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{board}: build failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return out / "peekless.elf"


def bench(out: Path, boards: list[str]) -> list[dict]:
    from compiler import compile_model

    models = [("mlperf_vww_96", "MLPerf VWW (96x96x3)", MLPERF)] if MLPERF.exists() else []
    label, demo = demo_model(out)
    models.append(("demo", label, demo))
    rows = []
    for key, label, tflite in models:
        gen = out / key / "generated"
        result = compile_model(tflite, gen)
        row_bytes, _ = model_input_bytes(gen)
        for board in boards:
            t0 = time.monotonic()
            elf = build(board, gen, out / key / board)
            report = ram_report(elf, board, gen)
            m = measure_ram(elf, board, input_row_bytes=row_bytes)
            if m.input_extent_bytes is not None:
                report["pixel_buffers"]["peekless_model_arena[input]"] = m.input_extent_bytes
            name, size = max(report["pixel_buffers"].items(), key=lambda kv: kv[1])
            total = report["static_bytes"] + m.high_water_bytes
            target, applies = TARGETS[key]
            rows.append({
                "model": label, "key": key, "board": board, "arena_bytes": result.arena_bytes,
                "static_bytes": report["static_bytes"], "data_bytes": report["data_bytes"],
                "bss_bytes": report["bss_bytes"], "stack_high_water_bytes": m.high_water_bytes,
                "stack_reserved_bytes": m.reserved_bytes, "total_bytes": total,
                "largest_pixel_buffer": {"name": name, "bytes": size},
                "pixel_buffers": report["pixel_buffers"],
                "target_bytes": target if board in applies else None,
                "meets_target": total <= target if board in applies else None,
            })  # fmt: skip
            print(f"[{key}] {board}: static {report['static_bytes']:,} B + stack "
                  f"{m.high_water_bytes:,} B = {total:,} B; largest pixel buffer {name} "
                  f"{size:,} B ({time.monotonic() - t0:.0f} s)", flush=True)
    return rows


def render(rows: list[dict]) -> str:
    lines = [
        "# RAM of the production image (QVGA RGB565 camera)", "",
        ("Static = .data + .bss of the ELF. Stack = the high-water mark measured on the "
        "emulator: startup paints the stack, frames of every camera format go through "
        "the emulated sensor, and the painted stack is read back through the debugger at "
        "every frame (host_tools/ram_usage.py). Total = static + stack. The linker "
        "reserves the stack apart (reserved). Largest pixel buffer: the biggest RAM that "
        "holds camera or model-input pixels (the arena's input band measured where the "
        "model's input rows land)."), "",
        ("| model | board | arena B | static B | stack B (reserved) | total B | target B | "
        "largest pixel buffer |"),
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]  # fmt: skip
    for r in rows:
        target = "" if r["target_bytes"] is None else (
            f"{r['target_bytes']:,} {'ok' if r['meets_target'] else 'MISSED'}")
        lp = r["largest_pixel_buffer"]
        lines.append(
            f"| {r['model']} | {r['board']} | {r['arena_bytes']:,} | {r['static_bytes']:,} | "
            f"{r['stack_high_water_bytes']:,} ({r['stack_reserved_bytes']:,}) | "
            f"{r['total_bytes']:,} | {target} | {lp['name']} {lp['bytes']:,} B |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=REPO / "build" / "bench")
    p.add_argument("--boards", default=",".join(BOARDS))
    a = p.parse_args(argv)
    out = a.out.resolve() / "ram"
    out.mkdir(parents=True, exist_ok=True)
    rows = bench(out, [b for b in a.boards.split(",") if b])
    (a.out / "bench_ram.json").write_text(json.dumps(rows, indent=1))
    (a.out / "bench_ram.md").write_text(render(rows))
    print(render(rows))
    return 0 if all(r["meets_target"] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
