"""`peekless demo`: the whole path once, for real, from synthetic scenes to an audited device.

dataset -> trained Keras model -> int8 .tflite -> generated C -> firmware ELF -> QEMU run
on held-out frames -> comparison with LiteRT -> privacy audit -> report.json.
Every stage reads the previous stage's files in the run folder and writes its own.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from peekless.progress import Steps

DEFAULT_RUNS = Path("runs")


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="train, compile, run on an emulated Cortex-M and audit")
    p.add_argument("--out", type=Path, default=None, help="run folder (default runs/demo-<time>)")
    p.add_argument("--images", type=int, default=3000, help="synthetic scenes to generate")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (recipe default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--board", default="an386", help="emulated board to run the firmware on")
    p.add_argument("--frames", type=int, default=0,
                   help="held-out frames fed to the device (0 = the whole test split)")
    p.set_defaults(func=lambda args: run_demo(args.out, args.images, args.epochs, args.seed,
                                              args.board, args.frames)["exit_code"])


def _decisions(outputs: np.ndarray, person_index: int = 1) -> np.ndarray:
    """The firmware's rule: person when the person output is strictly the larger."""
    return outputs[:, person_index] > outputs[:, 1 - person_index]


def run_demo(out: Path | None, images: int = 3000, epochs: int | None = None, seed: int = 0,
             board: str = "an386", frames: int = 0) -> dict:
    from compiler import compile_model
    from host_tools.audit import audit_capture
    from host_tools.emulator import run_capture
    from host_tools.firmware_build import build_firmware, hello_expectations
    from host_tools.frame_bank import write_frame_bank
    from host_tools.protocol import Decision, Stats, parse_capture
    from training.ingest import load_split, manifest_sha256
    from training.preprocess import to_model_input
    from training.quantize import quantize
    from training.reference import litert_reference
    from training.synthetic import build_dataset
    from training.train import train

    run = Path(out) if out else DEFAULT_RUNS / time.strftime("demo-%Y%m%d-%H%M%S")
    run.mkdir(parents=True, exist_ok=True)
    steps = Steps(9)

    steps.start(f"generating {images} synthetic doorbell scenes (seed {seed})")
    manifest = build_dataset(run / "dataset", n=images, seed=seed)
    steps.done(str(manifest))

    steps.start("training the person detector")
    train_kw = {"seed": seed} | ({"epochs": epochs} if epochs else {})
    keras_model = train(manifest, run / "model", **train_kw)
    steps.done(str(keras_model))

    steps.start("quantizing to a full-int8 .tflite")
    tflite = quantize(keras_model, manifest, run / "model" / "model_int8.tflite", seed=seed)
    steps.done(str(tflite))

    steps.start("compiling the model to C with a static memory plan")
    compiled = compile_model(tflite, run / "generated")
    steps.done(f"{compiled.macs:,} MACs, arena {compiled.arena_bytes:,} bytes")

    steps.start(f"cross-compiling the HIL firmware for {board}")
    fw = build_firmware(board, run / "generated", run / "firmware", build="hil")
    steps.done(f"{fw.elf}: flash {fw.flash_bytes:,} B, static RAM {fw.ram_bytes:,} B")

    steps.start("running held-out frames on the emulated device")
    test_images, test_labels = load_split(manifest, "test")
    if frames:
        test_images, test_labels = test_images[:frames], test_labels[:frames]
    bank = write_frame_bank(run / "capture" / "heldout.pkfb", test_images)
    emu = run_capture(fw.elf, board=board, frame_bank=bank, timeout_s=600)
    (run / "capture" / "device.bin").write_bytes(emu.capture)
    records = [r for r in parse_capture(emu.capture) if isinstance(r, (Decision, Stats))]
    device = np.array([r.person for r in records if isinstance(r, Decision)], dtype=bool)
    stats = next((r for r in records if isinstance(r, Stats)), None)
    steps.done(f"{len(device)} decisions, QEMU exit {emu.exit_code}, {emu.wall_s:.1f} s")

    steps.start("comparing every device decision with LiteRT (reference kernels)")
    host_outputs = litert_reference(tflite, to_model_input(test_images))
    host = _decisions(host_outputs)
    labels = test_labels.astype(bool)
    complete = len(device) == len(host)
    agreement = float(np.mean(device == host)) if complete else 0.0
    steps.done(f"agreement {agreement:.4f}")

    steps.start("auditing everything the device sent")
    audit = audit_capture(emu.capture, test_images, hello_expectations(fw.manifest))
    (run / "audit.json").write_text(json.dumps(audit.to_json(), indent=1))
    steps.done("passed" if audit.passed else "FAILED")

    steps.start("writing the report")
    report = {
        "run_dir": run.name,  # its own folder: an absolute path would carry the home folder
        "dataset_manifest_sha256": manifest_sha256(manifest),
        "model_sha256": compiled.model_sha256,
        "board": board,
        "frames": len(host),
        "host_int8_accuracy": float(np.mean(host == labels)),
        "device_accuracy": float(np.mean(device == labels)) if complete else 0.0,
        "device_host_agreement": agreement,
        "device_decisions": len(device),
        "instructions_per_inference": (stats.insn_total / stats.frames) if stats and stats.frames else None,
        "instructions_per_inference_min": stats.insn_min if stats else None,
        "instructions_per_inference_max": stats.insn_max if stats else None,
        "instruction_count_method": "qemu -icount shift=0: TIMER0 ticks x 40 around "
                                    "peekless_model_invoke; instructions, not cycles",
        "macs_per_inference": compiled.macs,
        "flash_bytes": fw.flash_bytes,
        "ram_bytes": fw.ram_bytes,
        "arena_bytes": compiled.arena_bytes,
        "weight_bytes": compiled.weight_bytes,
        "qemu_exit_code": emu.exit_code,
        "audit": {"passed": audit.passed, "checks": [c.name for c in audit.checks],
                  "failed": [c.name for c in audit.checks if not c.passed]},
        "elapsed_s": round(steps.elapsed, 1),
    }
    ok = audit.passed and complete and agreement == 1.0 and emu.exit_code == 0
    report["exit_code"] = 0 if ok else 1
    path = run / "report.json"
    path.write_text(json.dumps(report, indent=1))
    steps.done()
    _print_summary(report, audit, path)
    return report


def _print_summary(report: dict, audit, path: Path) -> None:
    ipi = report["instructions_per_inference"]
    print()
    print("Peekless demo")
    print(f"  held-out frames          {report['frames']}")
    print(f"  host int8 accuracy       {report['host_int8_accuracy']:.4f}")
    print(f"  device accuracy          {report['device_accuracy']:.4f}")
    print(f"  device/LiteRT agreement  {report['device_host_agreement']:.4f}")
    print(f"  instructions/inference   {ipi:,.0f} (emulated {report['board']}, not cycles)"
          if ipi else "  instructions/inference   n/a")
    print(f"  flash / static RAM       {report['flash_bytes']:,} B / {report['ram_bytes']:,} B "
          f"(arena {report['arena_bytes']:,} B)")
    print(audit.summary())
    print(f"report: {path}")
