"""The whole noninterference audit of an image on an emulated board.

    from host_tools.noninterference.emulated import EmulatedAudit, audit_emulated

    report = audit_emulated(EmulatedAudit(elf, "an386", manifest, tflite, frames=32))
    print(report.meta["statement"])

Steps: choose the frames and their reference decisions (:mod:`.frames`); run the image
twice in lockstep (:mod:`.lockstep`), run A on the frames, run B on the same frames
rotated within their pairing classes; turn what was seen into the verdict checks
(:mod:`host_tools.audit.noninterference`, plus ``protocol`` and ``shipped_image``); when
something leaked, run the diagnostics that say what.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import emulator
from ..audit import CHECK_NAMES, AuditReport, CheckResult, Findings
from ..audit.grammar import check_grammar
from ..audit.noninterference import (
    check_memory,
    check_output,
    check_reference,
    check_timing,
    statement,
)
from ..checkpoints import elf_symbols
from ..decision_rule import DecisionRule
from ..frame_bank import FORMAT_GRAY8, FORMAT_RGB565, FORMAT_RGB888, HEADER_SIZE
from ..protocol import POLICY_PER_FRAME, Hello, parse_capture
from .feeders import HIL_SYMBOL, SENSOR_SYMBOL, BankFeeder, CameraFrames, SensorFeeder
from .frames import given_frames, pixel_coverage, select_frames
from .lockstep import run_lockstep
from .qemu_device import QemuDevice

#: Frames per run by default: every bit of the frame differs between the runs in a few
#: positions at least (see docs/HIL_AUDIT.md, "How many frames").
DEFAULT_FRAMES = 32
#: The camera of a production image unless the manifest says otherwise (pk_config.h).
DEFAULT_CAMERA = (320, 240, FORMAT_RGB565)
VERDICT_CHECKS = CHECK_NAMES


class AuditSetupError(ValueError):
    """The audit cannot run as asked (bad ELF, model or configuration)."""


@dataclass
class EmulatedAudit:
    """What to audit and how. ``camera``: (width, height, pixel format) of the frames
    offered to a production image (default: the manifest's ``camera`` or QVGA RGB565);
    HIL images are shown frames at the model's input size."""

    elf: Path
    board: str = "an386"
    manifest: dict | None = None
    tflite: Path | None = None
    frames: int = DEFAULT_FRAMES
    seed: int = 0
    camera: tuple[int, int, int] | None = None
    kinds: tuple[str, ...] | None = None
    timeout_s: float = 60.0
    progress: bool = False
    diagnostics: bool = True
    workdir: Path | None = None
    given: CameraFrames | None = None  # frames to show instead of canaries (run A's order)
    locate_timing: bool = True  # when timing differs, time every function entry to say where
    extra_meta: dict = field(default_factory=dict)


def _scratch_dir(given: Path | None):
    if given is not None:
        Path(given).mkdir(parents=True, exist_ok=True)
        return contextlib.nullcontext(str(given))
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    return tempfile.TemporaryDirectory(prefix="peekless-audit-", dir=base)


def image_kind(elf: Path) -> str:
    """``"hil"`` (has pk_hil_checkpoint and reads a frame bank) or ``"production"`` (the
    sensor driver's pk_hal_camera_begin, no HIL code)."""
    syms = elf_symbols(Path(elf))
    if HIL_SYMBOL in syms:
        return "hil"
    if SENSOR_SYMBOL in syms:
        return "production"
    raise AuditSetupError(
        f"{elf}: neither {SENSOR_SYMBOL} (production sensor driver) nor {HIL_SYMBOL} (HIL "
        f"checkpoint): cannot feed it frames from outside"
    )


def _camera(cfg: EmulatedAudit, kind: str) -> tuple[int, int, int]:
    manifest = cfg.manifest or {}
    if kind == "hil":
        h, w, c = (int(x) for x in manifest.get("input_shape", (96, 96, 1)))
        return (w, h, FORMAT_GRAY8 if c == 1 else FORMAT_RGB888)
    if cfg.camera:
        return tuple(cfg.camera)
    cam = manifest.get("camera")
    if cam:
        from ..frame_bank import format_code

        return (int(cam["width"]), int(cam["height"]), format_code(cam["pixfmt"]))
    return DEFAULT_CAMERA


def audit_emulated(cfg: EmulatedAudit) -> AuditReport:
    t_start = time.monotonic()
    elf = Path(cfg.elf)
    if not elf.is_file():
        raise AuditSetupError(f"{elf}: no such ELF")
    if cfg.tflite is None:
        raise AuditSetupError(
            "the reference needs the model: give the .tflite the firmware was built from (--model)"
        )
    tflite = Path(cfg.tflite)
    model_sha = hashlib.sha256(tflite.read_bytes()).hexdigest()
    manifest = dict(cfg.manifest or {})
    if manifest.get("model_sha256") and manifest["model_sha256"] != model_sha:
        raise AuditSetupError(
            f"{tflite.name}: sha256 {model_sha[:16]}... is not the manifest's model "
            f"{manifest['model_sha256'][:16]}...: give the model the firmware was built from"
        )
    if cfg.given is None and cfg.frames < 2:
        raise AuditSetupError(
            f"frames: want at least 2 (two runs need frames to swap), got {cfg.frames}"
        )
    kind = image_kind(elf)
    board = emulator.board_info(cfg.board)
    width, height, pixfmt = _camera(cfg, kind)
    input_shape = manifest.get("input_shape") or _input_shape_of(tflite)
    rule = DecisionRule.from_manifest(manifest)

    t0 = time.monotonic()
    if cfg.given is not None:
        chosen = given_frames(cfg.given, input_shape, tflite, rule, cfg.seed)
        width, height, pixfmt = cfg.given.width, cfg.given.height, cfg.given.pixfmt
    else:
        chosen = select_frames(
            cfg.frames,
            width,
            height,
            pixfmt,
            input_shape,
            tflite,
            rule,
            cfg.seed,
            **({"kinds": cfg.kinds} if cfg.kinds else {}),
        )
    reference_s = time.monotonic() - t0
    frames_a, frames_b = chosen.frames, chosen.frames_b
    feeder_cls = SensorFeeder if kind == "production" else BankFeeder
    window = board.bank_addr
    if kind == "hil":
        need = HEADER_SIZE + len(frames_a) * frames_a.frame_bytes
        if need > board.bank_bytes:
            raise AuditSetupError(
                f"{len(frames_a)} frames of {frames_a.frame_bytes} bytes do "
                f"not fit the {board.bank_bytes}-byte bank window of "
                f"{cfg.board}"
            )
    bar = _Bar(len(frames_a), cfg.progress)
    with _scratch_dir(cfg.workdir) as scratch:
        semi = kind == "hil"
        dev_a = QemuDevice(elf, cfg.board, scratch, semihosting=semi, label="A")
        dev_b = QemuDevice(elf, cfg.board, scratch, semihosting=semi, label="B")
        try:
            lock = run_lockstep(
                dev_a,
                dev_b,
                feeder_cls(window, frames_a, board.bank_bytes),
                feeder_cls(window, frames_b, board.bank_bytes),
                timeout_s=cfg.timeout_s,
                on_checkpoint=bar.update,
            )
        finally:
            bar.close()
            dev_a.close()
            dev_b.close()
    capture_a, capture_b = bytes(lock.a.outputs[0]), bytes(lock.b.outputs[0])
    hello = next((r for r in parse_capture(capture_a) if isinstance(r, Hello)), None)
    per_frame = hello is None or hello.policy == POLICY_PER_FRAME

    checks: list[CheckResult] = [
        _protocol(capture_a, capture_b, manifest, model_sha, len(frames_a)),
        check_output(lock),
        check_timing(lock),
        check_memory(lock),
        check_reference(
            capture_a,
            capture_b,
            chosen.decisions_a[: lock.cut_short],
            chosen.decisions_b[: lock.cut_short],
            chosen.order,
            per_frame,
            note=f"reference: LiteRT BUILTIN_REF on {tflite.name} "
            f"(sha256 {model_sha[:16]}...), rule {rule.kind}",
        ),
        _shipped_image(elf, hello),
    ]
    passed = all(c.passed or c.skipped for c in checks)
    diagnostics: list[CheckResult] = []
    if not passed and cfg.diagnostics:
        diagnostics = _diagnose(lock, chosen, manifest)
        if (
            cfg.locate_timing
            and "timing" in lock.firsts
            and lock.first_frames.get("timing") is not None
        ):
            diagnostics.append(
                _where_timing(elf, cfg, chosen, lock.first_frames["timing"], feeder_cls, board)
            )
    coverage = pixel_coverage(frames_a, chosen.order)
    wall = time.monotonic() - t_start
    n = len(frames_a)
    meta = {
        "statement": statement(checks, lock, n),
        "target": f"QEMU {board.machine} running {elf.name} ({kind} image)",
        "board": cfg.board,
        "image": kind,
        "elf_sha256": hashlib.sha256(elf.read_bytes()).hexdigest(),
        "model_sha256": model_sha,
        "hello": _hello_json(hello),
        "seed": cfg.seed,
        "frames": n,
        "camera": {"width": width, "height": height, "pixfmt": pixfmt},
        "canary_kinds": sorted(set(chosen.kinds)),
        "pairing": {
            "rule": rule.kind,
            "classes": {str(k): int(chosen.keys.count(k)) for k in dict.fromkeys(chosen.keys)}
            if not any(isinstance(k, bytes) for k in chosen.keys)
            else len(set(chosen.keys)),
            "unpaired_positions": chosen.unpaired,
            "canaries_drawn": int(chosen.indices.max()) + 1 if n else 0,
        },
        "coverage": coverage,
        "observed": {
            "uarts": lock.uarts,
            "regions": lock.regions,
            "output_bytes": [len(x) for x in lock.a.outputs],
            "byte_writes_timed": lock.byte_events_compared,
            "checkpoints": lock.checkpoints_compared,
            "memory_bytes_compared": lock.memory_bytes_compared,
        },
        "first_difference": lock.first_difference,
        "decisions_a": [bool(x) for x in _decisions_of(capture_a)],
        "instructions_per_frame": _per_frame(lock.a.checkpoints),
        "run_a": {"end": lock.a.end, "exit_code": lock.a.exit_code},
        "run_b": {"end": lock.b.end, "exit_code": lock.b.exit_code},
        "wall_s": round(wall, 3),
        "lockstep_s": round(lock.wall_s, 3),
        "snapshot_s": round(lock.snapshot_s, 3),
        "reference_s": round(reference_s, 3),
        "frames_per_minute": round(60.0 * n / wall, 1) if wall > 0 else None,
        "throughput_note": "frames audited per minute of wall time (each frame shown to "
        "both runs), reference, both runs and every check included",
        **cfg.extra_meta,
    }
    report = AuditReport.of(checks, capture_bytes=len(capture_a), frames=n, meta=meta)
    report.diagnostics = diagnostics
    report.outputs = [bytes(x) for x in lock.a.outputs]
    return report


def _protocol(
    capture_a: bytes, capture_b: bytes, manifest: dict, model_sha: str, n: int
) -> CheckResult:
    """The grammar of version 1 on both runs' UART0, the HELLO against the manifest (the
    decision rule included), and its model hash against the model the reference used."""
    from ..hil_audit import hello_manifest
    from ..protocol import parse_capture_spans

    want = hello_manifest(manifest)
    want["model_sha256"] = model_sha
    results = [check_grammar(parse_capture_spans(c), len(c), want) for c in (capture_a, capture_b)]
    f = Findings()
    for label, r in zip("AB", results, strict=True):
        for finding in r.findings:
            f.add(f"run {label}: {finding}")
    return f.result("protocol", not f, f"run A: {results[0].detail}; {n} frames shown")


def _shipped_image(elf: Path, hello: Hello | None) -> CheckResult:
    """The audited image is a production image: it says so in its HELLO, and the
    firmware's production-ELF check (no injection, debug-read, flash-write, semihosting
    or test-leak code) passes on it."""
    from ..audit import check_elf_allowlist

    r = check_elf_allowlist(elf)
    f = Findings()
    for finding in r.findings:
        f.add(finding)
    if hello is not None and hello.build_kind != 0:
        f.add(f"{elf.name}: its HELLO says build_kind {hello.build_kind} (HIL), not production")
    detail = f"the audited ELF is the image that ships: {r.detail}"
    return f.result("shipped_image", not f and not r.skipped, detail)


def _diagnose(lock, chosen, manifest: dict) -> list[CheckResult]:
    """The content diagnostics over what the runs showed until they stopped (frames
    0 .. the last compared)."""
    from ..audit import capture_checks
    from ..audit.diagnostics import memory_diagnostic
    from ..firmware_build import hello_expectations

    out = []
    shown = lock.cut_short or len(chosen.frames)
    frames = chosen.frames.data[:shown]
    frames_b = chosen.frames_b.data[:shown]
    if lock.memory:
        out.append(memory_diagnostic(lock, frames, frames_b))
    if bytes(lock.a.outputs[0]) != bytes(lock.b.outputs[0]) or any(
        len(x) for x in lock.a.outputs[1:]
    ):
        # Search run A's output for the frames whose output differed (and the first).
        want = hello_expectations(manifest) if "output_schema" in manifest else None
        for c, out_a in enumerate(lock.a.outputs):
            if not out_a or (c == 0 and bytes(out_a) == bytes(lock.b.outputs[0])):
                continue
            for r in capture_checks(bytes(out_a), frames, want if c == 0 else None):
                if r.name in ("canary_windows", "image_signatures", "entropy", "budget"):
                    r.name = f"{r.name}" + (f" (UART{c})" if c else "")
                    out.append(r)
    return out


def _decisions_of(capture: bytes) -> list[bool]:
    """Run A's DECISIONs in order (person bit)."""
    from ..protocol import Decision

    return [r.person for r in parse_capture(capture) if isinstance(r, Decision)]


def _per_frame(checkpoints: list[tuple[int, int]]) -> dict | None:
    """Instructions between consecutive checkpoints (a whole frame: capture, preprocessing,
    inference, decision, record, wipe): QEMU icount, instructions not cycles."""
    counts = [b[1] - a[1] for a, b in itertools.pairwise(checkpoints)]
    if not counts:
        return None
    return {"min": min(counts), "max": max(counts), "mean": sum(counts) / len(counts)}


def _where_timing(elf, cfg, chosen, frame: int, feeder_cls, board) -> CheckResult:
    """The code whose instruction count depends on the pixels, found by running the two
    frames of the first position whose timing differed alone
    (:mod:`host_tools.noninterference.localize`)."""
    from .localize import localize

    f = Findings()
    t0 = time.monotonic()
    try:
        where = localize(
            elf, cfg.board, chosen.frames.take([frame]), chosen.frames_b.take([frame]),
            feeder_cls, board.bank_addr, board.bank_bytes, cfg.timeout_s,
        )  # fmt: skip
        f.add(f"position {frame}: {where.text}")
        found = where.function is not None
    except Exception as e:  # noqa: BLE001 (a diagnostic must not lose the verdict)
        f.add(f"position {frame}: could not be localised: {type(e).__name__}: {e}")
        found = False
    result = f.result(
        "timing_location",
        not found,
        f"every function entry of the image timed for the two frames of position {frame}",
    )
    result.seconds = time.monotonic() - t0
    return result


def _input_shape_of(tflite: Path) -> tuple[int, int, int]:
    """The model's input (h, w, c), from the .tflite itself."""
    from training.reference import reference_interpreter

    shape = reference_interpreter(tflite).get_input_details()[0]["shape"]
    return tuple(int(x) for x in shape[-3:])


def _hello_json(hello: Hello | None) -> dict | None:
    if hello is None:
        return None
    return {
        "proto_version": hello.proto_version,
        "build_kind": hello.build_kind,
        "policy": hello.policy,
        "leak_budget_bits": hello.leak_budget_bits,
        "fw_version": hello.fw_version,
        "board": hello.board,
        "model_sha256": hello.model_sha256.hex(),
    }


class _Bar:
    def __init__(self, total: int, enabled: bool) -> None:
        self.bar = None
        self.done = 0
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, unit="frame", file=sys.stderr, desc="audit (A+B)", dynamic_ncols=True
            )

    def update(self, frames_done: int) -> None:
        if self.bar is not None and frames_done > self.done:
            self.bar.update(frames_done - self.done)
            self.done = frames_done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
