"""The firmware's decision rule (firmware/app/pk_decide.c): straight-line object code for
every board and kind, and on mps2-an386 the device's decisions equal the host reference
(host_tools/decision_rule.py on LiteRT's outputs) on every frame, for firmware built with
`peekless firmware --target-fpr ... --k-of-n ...` and `--threshold ... --hysteresis-low ...`.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hil_fixtures import HAVE_TOOLS, build_tiny_model, cache_root

from host_tools.decision_rule import DecisionRule, operating_points

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"
ENGINE_CACHE = Path(tempfile.gettempdir()) / f"peekless-engine-cache-{os.getuid()}"
ARCH_FLAGS = {
    "an386": ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
    "an500": ["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"],
    "an547": ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"],
}
KINDS = {
    "argmax": [],
    "threshold": ["-DPEEKLESS_DECIDE_KIND=1", "-DPEEKLESS_DECIDE_THRESHOLD=-17"],
    "k_of_n": ["-DPEEKLESS_DECIDE_KIND=2", "-DPEEKLESS_DECIDE_THRESHOLD=9",
               "-DPEEKLESS_DECIDE_K=3", "-DPEEKLESS_DECIDE_N=5"],
    "hysteresis": ["-DPEEKLESS_DECIDE_KIND=3", "-DPEEKLESS_DECIDE_THRESHOLD=40",
                   "-DPEEKLESS_DECIDE_THRESHOLD_LOW=-3"],
}  # fmt: skip
# Anything that can change the flow of control or skip an instruction.
CONTROL = re.compile(r"^(b|bl|blx|bx|cbz|cbnz|tbb|tbh|it[te]*|b[a-z]{2}(\.[nw])?|pop)$|pc")

pytestmark = pytest.mark.skipif(not HAVE_TOOLS, reason="arm-none-eabi-gcc/qemu-system-arm missing")


def pk_decide_body(tmp_path: Path, board: str, defines: list[str]) -> list[str]:
    """The instructions of pk_decide compiled as the firmware build compiles it."""
    (tmp_path / "peekless_model.h").write_text("#define PEEKLESS_MODEL_PERSON_INDEX 1\n")
    obj = tmp_path / f"pk_decide_{board}.o"
    subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
                    *ARCH_FLAGS[board], "-ffunction-sections", f"-I{tmp_path}",
                    f"-I{FIRMWARE / 'app'}", *defines, "-c", str(FIRMWARE / "app" / "pk_decide.c"),
                    "-o", str(obj)], check=True, capture_output=True, text=True)  # fmt: skip
    dump = subprocess.run(["arm-none-eabi-objdump", "-d", "--no-show-raw-insn",
                           "-j", ".text.pk_decide", str(obj)],
                          check=True, capture_output=True, text=True).stdout  # fmt: skip
    return [m.group(1) for m in re.finditer(r"^\s+[0-9a-f]+:\s+(\S.*)$", dump, re.MULTILINE)]


@pytest.mark.parametrize("board", sorted(ARCH_FLAGS))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_pk_decide_is_straight_line_code(tmp_path, board, kind):
    body = [i for i in pk_decide_body(tmp_path, board, KINDS[kind]) if not i.startswith("nop")]
    returns = ("bx\tlr", "ldr.w\tpc, [sp], #4")  # the one way out: lr, or lr as pushed
    assert body and (body[-1] in returns or re.fullmatch(r"pop\t\{.*pc\}", body[-1])), body
    control = [i for i in body[:-1] if CONTROL.search(i.split()[0]) or "pc" in i]
    assert control == [], f"{board} {kind}: {control}"


def test_the_straight_line_check_catches_a_conditional_instruction(tmp_path):
    # Without the optimisation barrier GCC turns the sign-bit arithmetic into a compare
    # and a conditionally executed instruction: the check above must see it.
    body = pk_decide_body(tmp_path, "an386", [*KINDS["threshold"], "-DPK_OPAQUE(x)=(void)(x)"])
    assert any(CONTROL.search(i.split()[0]) for i in body[:-1]), body


# ---- on the emulated device -------------------------------------------------------------

FRAMES = 40


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The audit tests' tiny 96x96 gray model, its canary frames and LiteRT outputs."""
    from host_tools.canaries import generate_canaries
    from training.preprocess import to_model_input
    from training.reference import litert_reference

    root = cache_root(tmp_path_factory)
    generated = build_tiny_model(root)
    tflite = root / "tiny.tflite"
    frames = generate_canaries(FRAMES, 96, 96, 1, seed=7).frames
    outputs = litert_reference(tflite, to_model_input(frames))
    return generated, tflite, frames, outputs


def _card(path: Path, tflite: Path, outputs: np.ndarray) -> Path:
    """A model card whose validation operating points come from these frames, labelled
    by a rule of our own (any labels with both classes will do)."""
    from training.operating_points import int8_output_facts, operating_points_block

    scores = DecisionRule().scores(outputs)
    labels = (scores > np.median(scores)) ^ (np.arange(len(scores)) % 5 == 0)
    block = operating_points_block(int8_output_facts(tflite), labels.astype(int), outputs, "val")
    path.write_text(json.dumps({"operating_points": block}))
    assert block["points"] == operating_points(labels, scores)
    return path


def _probability(score: float, scale: float) -> float:
    """The person probability of a score for a logits model of this output scale."""
    return 1.0 / (1.0 + math.exp(-score * scale))


@pytest.mark.emulator
@pytest.mark.parametrize("kind", ["k_of_n", "hysteresis"])
def test_device_decisions_equal_the_host_rule_on_every_frame(tiny, tmp_path, monkeypatch, capsys,
                                                             kind):  # fmt: skip
    from host_tools.audit.grammar import check_grammar
    from host_tools.emulator import run_capture
    from host_tools.firmware_build import hello_expectations
    from host_tools.frame_bank import write_frame_bank
    from host_tools.protocol import Decision, Hello, parse_capture_spans
    from peekless.cli import main
    from training.operating_points import int8_output_facts

    generated, tflite, frames, outputs = tiny
    monkeypatch.setenv("ENGINE_CACHE", str(ENGINE_CACHE))  # firmware/Makefile reads it
    card = _card(tmp_path / "model_card.json", tflite, outputs)
    if kind == "k_of_n":
        options = ["--target-fpr", "0.3", "--k-of-n", "2/3"]
    else:  # probabilities of scores 25.5 and -2.5: thresholds 26 and -2 on this model
        scale = int8_output_facts(tflite)["output_scale"]
        options = ["--threshold", repr(_probability(25.5, scale)),
                   "--hysteresis-low", repr(_probability(-2.5, scale))]  # fmt: skip
    out = tmp_path / "fw"
    argv = ["firmware", "--board", "an386", "--model-dir", str(generated), "--out", str(out),
            "--card", str(card), *options]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    manifest = json.loads((out / "build_manifest.json").read_text())
    rule = DecisionRule.from_manifest(manifest)
    assert rule.kind == kind and manifest["decision_rule"]["chosen_from"]

    run = run_capture(out / "peekless.elf", "an386",
                      write_frame_bank(tmp_path / "bank.pkfb", frames), timeout_s=120)  # fmt: skip
    assert run.exit_code == 0, run.stderr
    spans = parse_capture_spans(run.capture)
    hello = spans[0].item
    assert isinstance(hello, Hello) and DecisionRule.from_hello(hello) == rule
    device = [s.item.person for s in spans if isinstance(s.item, Decision)]
    host = rule.apply(outputs).tolist()
    assert device == host
    plain = DecisionRule("threshold", threshold=rule.threshold).apply(outputs).tolist()
    assert plain != host and 0 < sum(host) < FRAMES  # the debounce really acted
    grammar = check_grammar(spans, len(run.capture), hello_expectations(manifest))
    assert grammar.passed, grammar

