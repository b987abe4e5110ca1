#!/usr/bin/env python3
"""Benchmark the privacy audit (v2, noninterference) on the emulator: a clean production
build, 1000 canary frames by default, runs A and B in lockstep on two QEMUs.

Builds the production image of the model for the board, audits it, and prints the
throughput (frames audited per minute of wall time, each frame shown to both runs;
reference decisions, both runs, every snapshot and check included), the time spent in
each phase, and the number of false alarms (failed checks on a build that leaks
nothing; the target is 0). Not a per-commit test.

    .venv/bin/python scripts/bench_audit.py                       # tests' tiny model
    .venv/bin/python scripts/bench_audit.py --tflite ../shared/models/mlperf_vww_96_int8.tflite
    .venv/bin/python scripts/bench_audit.py --board an547 --frames 200 --out runs/bench_audit

Writes audit.json, audit.xml and bench.json to --out.
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

GOAL_FRAMES_PER_MINUTE = 60


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--board", default="an386")
    p.add_argument(
        "--tflite",
        type=Path,
        help="int8 model to build (default: the audit tests' tiny 96x96 gray model)",
    )
    p.add_argument(
        "--out", type=Path, help="folder for the build and reports (default: a temporary folder)"
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
        tflite = args.tflite
    else:
        from hil_fixtures import build_audit_model

        _, generated, tflite = build_audit_model(out)
    fw = build_firmware(args.board, generated, out / f"production-{args.board}", build="production")
    print(f"built {fw.elf} in {time.monotonic() - t0:.1f} s", file=sys.stderr)

    config = AuditConfig(
        frames=args.frames,
        seed=args.seed,
        model=tflite,
        manifest=fw.manifest,
        progress=sys.stderr.isatty(),
    )
    report = run_audit(EmulatorTarget(fw.elf, board=args.board), config)
    write_outputs(report, out / "audit.json", out / "audit.xml")
    print(report.summary(findings=True))
    meta = report.meta
    false_alarms = len(report.failed)
    result = {
        "model": str(args.tflite or "tests/hil_fixtures.py tiny model"),
        "board": args.board,
        "frames": report.frames,
        "camera": meta["camera"],
        "statement": meta["statement"],
        "wall_s": meta["wall_s"],
        "reference_s": meta["reference_s"],
        "lockstep_s": meta["lockstep_s"],
        "snapshot_s": meta["snapshot_s"],
        "frames_per_minute": meta["frames_per_minute"],
        "false_alarms": false_alarms,
        "failed_checks": report.failed,
        "skipped_checks": [c.name for c in report.checks if c.skipped],
        "coverage": meta["coverage"],
        "observed": meta["observed"],
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    (out / "bench.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    print(
        f"{report.frames} frames on {args.board}: {meta['frames_per_minute']} frames/minute "
        f"(goal >= {GOAL_FRAMES_PER_MINUTE}), {false_alarms} false alarms"
    )
    ok = false_alarms == 0 and meta["frames_per_minute"] >= GOAL_FRAMES_PER_MINUTE
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
