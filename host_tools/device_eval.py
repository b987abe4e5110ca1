"""Run labelled frames through the emulated device and hold every decision to the host.

``device_decisions`` compiles an int8 ``.tflite`` to C, builds the HIL firmware for a board
with a decision rule (host_tools/firmware_build.py), and feeds the frames through the frame
bank (host_tools/frame_bank.py) in boots of at most ``boot_frames`` (the bank window of the
board bounds one boot). Every boot starts with the rule's state reset, as a device does at
power-up, so the host reference applies the rule to each boot's frames on their own:
``rule.apply(outputs[boot])``. Each boot's HELLO is checked against the build manifest
(the grammar check), and every DECISION against the host reference.

The frames must already have the model's input size and channel count (1: GRAY8 frames,
3: RGB888): the device's preprocessing is then the identity and ``pixel - 128``
(docs/PROTOCOL.md), so LiteRT sees exactly the bytes the device infers on.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from host_tools.decision_rule import DecisionRule

DEFAULT_BOOT_FRAMES = 250
SECONDS_PER_FRAME = 1.0  # generous: the MLPerf model takes about 0.1 s per frame in QEMU


@dataclass
class DeviceResult:
    board: str
    decisions: np.ndarray  # bool [frames], what the device sent
    reference: np.ndarray  # bool [frames], the host rule per boot
    boots: int
    hello_ok: bool
    problems: list[str] = field(default_factory=list)
    insn: dict | None = None  # instructions per inference (not cycles): min, max, mean
    build: dict | None = None  # flash/RAM bytes of the image

    @property
    def mismatches(self) -> list[int]:
        return [int(i) for i in np.flatnonzero(self.decisions != self.reference)]

    def to_json(self) -> dict:
        return {
            "board": self.board,
            "frames": len(self.decisions),
            "boots": self.boots,
            "agreement": float(np.mean(self.decisions == self.reference)) if len(self.decisions) else None,
            "mismatched_frames": self.mismatches[:100],
            "mismatches": len(self.mismatches),
            "hello_states_the_manifest": self.hello_ok,
            "problems": self.problems,
            "instructions_per_inference": self.insn,
            "instruction_note": "QEMU -icount instruction counts around the model call, not cycles",
            "image": self.build,
        }


def device_decisions(tflite: Path, frames: np.ndarray, outputs: np.ndarray, rule: DecisionRule,
                     board: str, boot_frames: int = DEFAULT_BOOT_FRAMES) -> DeviceResult:  # fmt: skip
    """Run ``frames`` (uint8 [N, H, W, C] at the model's input) on the emulated ``board``;
    ``outputs`` are LiteRT's int8 outputs for them (the host reference)."""
    from tqdm import tqdm

    from compiler import compile_model
    from host_tools.audit.grammar import check_grammar
    from host_tools.emulator import board_info, run_capture
    from host_tools.firmware_build import build_firmware, hello_expectations
    from host_tools.frame_bank import HEADER_SIZE, write_frame_bank
    from host_tools.protocol import Decision, Stats, parse_capture_spans

    frame_bytes = int(np.prod(frames.shape[1:]))
    per_boot = max(1, min(boot_frames, (board_info(board).bank_bytes - HEADER_SIZE) // frame_bytes))
    decisions = np.zeros(len(frames), dtype=bool)
    reference = np.zeros(len(frames), dtype=bool)
    problems: list[str] = []
    hello_ok, insn_min, insn_max, insn_total, counted = True, None, 0, 0, 0
    with tempfile.TemporaryDirectory(prefix="peekless-eval-") as tmp:
        tmp = Path(tmp)
        print(f"building the HIL firmware for {board} ...", file=sys.stderr, flush=True)
        compile_model(tflite, tmp / "generated")
        fw = build_firmware(board, tmp / "generated", tmp / "fw", build="hil", rule=rule,
                            measure_stack=False)  # only flash/RAM/arena bytes are reported
        expect = hello_expectations(fw.manifest)
        starts = range(0, len(frames), per_boot)
        bar = tqdm(total=len(frames), desc=f"device ({board})", unit="frame", file=sys.stderr)
        for boot, lo in enumerate(starts):
            hi = min(lo + per_boot, len(frames))
            bank = write_frame_bank(tmp / "bank.pkfb", np.ascontiguousarray(frames[lo:hi]))
            run = run_capture(fw.elf, board, bank, timeout_s=30 + SECONDS_PER_FRAME * (hi - lo))
            bank.unlink()
            spans = parse_capture_spans(run.capture)
            got = [s.item.person for s in spans if isinstance(s.item, Decision)]
            if run.exit_code != 0 or len(got) != hi - lo:
                problems.append(f"boot {boot}: exit {run.exit_code}, {len(got)} decisions for "
                                f"{hi - lo} frames")  # fmt: skip
            n = min(len(got), hi - lo)
            decisions[lo : lo + n] = got[:n]
            reference[lo:hi] = rule.apply(outputs[lo:hi])
            grammar = check_grammar(spans, len(run.capture), expect)
            if not grammar.passed:
                hello_ok = False
                problems += [f"boot {boot}: {f}" for f in grammar.findings[:5]]
            stats = next((s.item for s in spans if isinstance(s.item, Stats)), None)
            if stats and stats.frames:
                insn_min = stats.insn_min if insn_min is None else min(insn_min, stats.insn_min)
                insn_max = max(insn_max, stats.insn_max)
                insn_total, counted = insn_total + stats.insn_total, counted + stats.frames
            bar.update(hi - lo)
        bar.close()
        build = {k: fw.manifest[k] for k in ("flash_bytes", "ram_bytes", "arena_bytes")}
    insn = ({"min": insn_min, "max": insn_max, "mean": insn_total / counted} if counted else None)
    return DeviceResult(board, decisions, reference, len(starts), hello_ok, problems, insn, build)
