#!/usr/bin/env python3
"""Benchmark the privacy audit on the emulator: a clean HIL build, >= 1000 canary frames.

Builds the HIL image and the production image (for the ELF allowlist check). Prints
the audit's throughput (frames audited per minute of wall time: both runs, RAM
read-back and every check included) and the number of false alarms (failed checks on a
build that leaks nothing; the target is 0). Not a per-commit test.

    .venv/bin/python scripts/bench_audit.py                       # tiny test model
    .venv/bin/python scripts/bench_audit.py --tflite ../shared/models/mlperf_vww_96_int8.tflite
    .venv/bin/python scripts/bench_audit.py --frames 2000 --out runs/bench_audit

Writes audit.json and audit.xml to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--board", default="an386")
    p.add_argument(
        "--tflite",
        type=Path,
        help="int8 model to build (default: the tests' tiny 96x96 gray model)",
    )
    p.add_argument(
        "--out", type=Path, help="folder for the build and reports (default: a temporary folder)"
    )
    p.add_argument(
        "--ram-every", type=int, help="RAM snapshot every K frames (default: about 100 snapshots)"
    )
    args = p.parse_args(argv)

    from host_tools.firmware_build import build_firmware
    from host_tools.hil_audit import AuditConfig, EmulatorTarget, run_audit, write_outputs

    out = args.out or Path(tempfile.mkdtemp(prefix="peekless-bench-audit-"))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    if args.tflite:
        from compiler import compile_model

        generated = out / "generated"
        compile_model(args.tflite, generated)
    else:
        from hil_fixtures import build_tiny_model

        generated = build_tiny_model(out)
    fw = build_firmware(args.board, generated, out / "firmware", build="hil")
    production = build_firmware(args.board, generated, out / "production", build="production")
    print(f"built {fw.elf} and {production.elf} in {time.monotonic() - t0:.1f} s", file=sys.stderr)

    config = AuditConfig(
        frames=args.frames,
        seed=args.seed,
        manifest=fw.manifest,
        production_elf=production.elf,
        ram_every=args.ram_every,
        progress=sys.stderr.isatty(),
        timeout_s=60.0 + 5.0 * args.frames,
    )
    report = run_audit(EmulatorTarget(fw.elf, board=args.board, workdir=out / "runs"), config)
    write_outputs(report, out / "audit.json", out / "audit.xml")
    print(report.summary(findings=True))
    meta = report.meta
    false_alarms = len(report.failed)
    result = {
        "frames": report.frames,
        "wall_s": meta["wall_s"],
        "device_s": meta["device_s"],
        "frames_per_minute": meta["frames_per_minute"],
        "false_alarms": false_alarms,
        "failed_checks": report.failed,
        "skipped_checks": [c.name for c in report.checks if c.skipped],
        "check_seconds": {c.name: round(c.seconds, 2) for c in report.checks},
        "ram": meta["run_a"]["ram"],
        "model": str(args.tflite or "tests/hil_fixtures.py tiny model"),
        "board": args.board,
    }
    (out / "bench.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    print(
        f"{report.frames} frames, {meta['frames_per_minute']} frames/minute, "
        f"{false_alarms} false alarms"
    )
    return 0 if false_alarms == 0 and meta["frames_per_minute"] >= 60 else 1


if __name__ == "__main__":
    sys.exit(main())
