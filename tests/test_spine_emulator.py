"""The spine end to end on the emulator: a compiled model in an386 firmware agrees with
LiteRT frame by frame, and the audit passes a clean build and fails a leaky one."""

from __future__ import annotations

import numpy as np
import pytest
from model_factory import convert_int8

from compiler import compile_model
from host_tools.audit import audit_capture, audit_cli_exit_code
from host_tools.emulator import run_capture
from host_tools.firmware_build import build_firmware, hello_expectations
from host_tools.frame_bank import write_frame_bank
from host_tools.protocol import Decision, Hello, Stats, parse_capture
from training.preprocess import to_model_input
from training.reference import litert_reference

pytestmark = pytest.mark.emulator
FRAMES = 40


@pytest.fixture(scope="module")
def compiled(tmp_path_factory, frames):
    import keras

    keras.utils.set_random_seed(3)
    inp = keras.Input((32, 32, 1), batch_size=1)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(16, 1, activation="relu")(x)
    x = keras.layers.AveragePooling2D(16)(x)
    x = keras.layers.Reshape((-1,))(x)
    dense = keras.layers.Dense(2)
    model = keras.Model(inp, dense(x))
    # An untrained model says the same thing for every frame; centre its decision boundary
    # on these frames so that both decisions occur.
    out = model.predict(frames.astype(np.float32) / 255.0, verbose=0)
    kernel, bias = dense.get_weights()
    bias[1] -= float(np.median(out[:, 1] - out[:, 0]))
    dense.set_weights([kernel, bias])
    root = tmp_path_factory.mktemp("spine")
    tflite = convert_int8(model, root / "tiny.tflite")
    compile_model(tflite, root / "generated")
    return root, tflite


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(11)
    # Noise plus a per-frame brightness so both decisions occur.
    base = rng.integers(0, 256, size=(FRAMES, 32, 32, 1))
    shift = np.linspace(-100, 100, FRAMES).reshape(-1, 1, 1, 1)
    return np.clip(base + shift, 0, 255).astype(np.uint8)


def run_on_an386(root, frames, leak=None):
    fw = build_firmware("an386", root / "generated", root / f"fw-{leak or 'clean'}", leak=leak)
    bank = write_frame_bank(root / "frames.pkfb", frames)
    return fw, run_capture(fw.elf, board="an386", frame_bank=bank, timeout_s=120)


def test_device_decisions_equal_litert(compiled, frames, arm_toolchain):
    root, tflite = compiled
    fw, run = run_on_an386(root, frames)
    assert run.exit_code == 0, run.stderr
    records = parse_capture(run.capture)
    hello = records[0]
    assert isinstance(hello, Hello) and hello.model_sha256.hex() == fw.manifest["model_sha256"]
    device = np.array([r.person for r in records if isinstance(r, Decision)])
    ref = litert_reference(tflite, to_model_input(frames))
    host = ref[:, 1] > ref[:, 0]
    assert len(device) == FRAMES
    assert 0 < host.sum() < FRAMES, "the frames must exercise both decisions"
    np.testing.assert_array_equal(device, host)
    stats = next(r for r in records if isinstance(r, Stats))
    assert stats.frames == FRAMES and 0 < stats.insn_min <= stats.insn_max
    assert fw.flash_bytes > 0 and fw.ram_bytes > 0


def test_audit_passes_clean_build(compiled, frames, arm_toolchain):
    root, _ = compiled
    fw, run = run_on_an386(root, frames)
    report = audit_capture(run.capture, frames, hello_expectations(fw.manifest))
    assert report.passed, report.summary(findings=True)
    assert audit_cli_exit_code(report) == 0


def test_audit_catches_leaky_build(compiled, frames, arm_toolchain):
    """The same sources built with the test-only LEAK=raw_frame flag dump each frame."""
    root, _ = compiled
    fw, run = run_on_an386(root, frames, leak="raw_frame")
    report = audit_capture(run.capture, frames, hello_expectations(fw.manifest))
    assert not report.passed
    assert audit_cli_exit_code(report) == 1
    failed = {c.name for c in report.checks if not c.passed}
    assert {"grammar", "canary_windows"} <= failed
    canary = report.check("canary_windows")
    assert any("frame 0" in f for f in canary.findings), canary.findings
    assert "FAIL" in report.summary()
