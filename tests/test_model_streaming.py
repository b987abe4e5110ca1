"""The generated model's streaming API (HELPERS.md contract 2): the model pulls its input
through a callback, every row once, in increasing order, in the same calls for every
input, and gives LiteRT's outputs bit for bit, on the host and in QEMU."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from model_factory import convert_int8
from test_engine_exact import assert_bit_exact

from compiler import compile_model
from compiler.bench.device import BANK_MAGIC, _parse, build_image
from compiler.host_runner import STREAM_RUNNER, build_host_runner, run_stream_runner
from host_tools import emulator
from training.reference import litert_reference


def _header(gen) -> dict[str, int]:
    out = {}
    for line in (gen / "peekless_model.h").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "#define" and parts[2].lstrip("-").isdigit():
            out[parts[1]] = int(parts[2])
    return out


@pytest.fixture(scope="module")
def small_image_model(tmp_path_factory):
    """A non-square 3-channel image model (rows and columns cannot be mixed up unseen)."""
    import keras

    keras.utils.set_random_seed(5)
    inp = keras.Input((20, 14, 3), batch_size=1)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inp)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(12, 1, activation="relu")(x)
    x = keras.layers.AveragePooling2D(x.shape[1:3])(x)
    x = keras.layers.Dense(2)(keras.layers.Reshape((-1,))(x))
    return convert_int8(keras.Model(inp, x), tmp_path_factory.mktemp("stream") / "small.tflite", 5)


def _check_calls(calls, header):
    rows = [r for r0, n, _ in calls for r in range(r0, r0 + n)]
    assert rows == list(range(header["PEEKLESS_MODEL_INPUT_H"])), calls
    assert max(n for _, n, _ in calls) == header["PEEKLESS_MODEL_STREAM_ROWS_MAX"]
    assert len(calls) == header["PEEKLESS_MODEL_STREAM_CALLS"]


@pytest.mark.parametrize("which", ["small", "mlperf"])
def test_streaming_on_host_equals_litert(which, small_image_model, request, tmp_path):
    tflite = small_image_model if which == "small" else request.getfixturevalue("mlperf_tflite")
    gen = tmp_path / "gen"
    compile_model(tflite, gen)
    header = _header(gen)
    runner = build_host_runner(gen, main=STREAM_RUNNER)
    shape = (header["PEEKLESS_MODEL_INPUT_H"], header["PEEKLESS_MODEL_INPUT_W"],
             header["PEEKLESS_MODEL_INPUT_C"])
    x = np.random.default_rng(3).integers(-128, 128, size=(24, *shape), dtype=np.int8)
    # The runner also checks that the calls are the same for every input and that
    # peekless_model_invoke gives the same bytes.
    got, calls = run_stream_runner(runner, x, header["PEEKLESS_MODEL_OUTPUT_BYTES"])
    assert_bit_exact(got, litert_reference(tflite, x), f"{tflite.name} streamed")
    _check_calls(calls, header)


def test_callback_abort_stops_the_inference(small_image_model, tmp_path):
    compile_model(small_image_model, tmp_path / "gen")
    header = _header(tmp_path / "gen")
    runner = build_host_runner(tmp_path / "gen", main=STREAM_RUNNER)
    x = np.zeros((2, header["PEEKLESS_MODEL_INPUT_BYTES"]), np.int8)
    for call in range(header["PEEKLESS_MODEL_STREAM_CALLS"]):
        got, _ = run_stream_runner(runner, x, header["PEEKLESS_MODEL_OUTPUT_BYTES"], abort_at=call)
        assert got.size == 0


def test_stream_runner_catches_a_broken_contract(small_image_model, tmp_path):
    """The checker itself can fail: a model that asks for the first rows twice."""
    gen = tmp_path / "gen"
    compile_model(small_image_model, gen)
    src = (gen / "peekless_model.c").read_text()
    marker = "if (fill(ctx, "
    assert marker in src
    src = src.replace(marker, "if (fill(ctx, 0, 1, arena) < 0 || fill(ctx, ", 1)
    (gen / "peekless_model.c").write_text(src)
    runner = build_host_runner(gen, main=STREAM_RUNNER)
    with pytest.raises(RuntimeError, match="increasing order"):
        run_stream_runner(runner, np.zeros((1, _header(gen)["PEEKLESS_MODEL_INPUT_BYTES"]), np.int8), 2)


@pytest.mark.emulator
def test_streaming_in_qemu_equals_litert(mlperf_tflite, tmp_path, arm_toolchain):
    gen = tmp_path / "gen"
    compile_model(mlperf_tflite, gen)
    header = _header(gen)
    image = build_image("an386", STREAM_RUNNER.with_name("stream_main.c"), tmp_path / "img", gen)
    x = np.random.default_rng(9).integers(-128, 128, size=(6, 96, 96, 3), dtype=np.int8)
    bank = tmp_path / "bank.bin"
    bank.write_bytes(BANK_MAGIC + np.array([len(x), x[0].size, 2], "<u4").tobytes() + x.tobytes())
    cmd = emulator.qemu_command(image.elf, "an386", frame_bank=bank, serial_port=None, icount=True)
    proc = subprocess.run(cmd, capture_output=True, timeout=300, stdin=subprocess.DEVNULL, check=False)
    text = proc.stdout.decode(errors="replace")
    variant, outputs, _, _, status = _parse(text, 2)
    assert proc.returncode == 0 and status == 0 and len(outputs) == len(x), text[-2000:]
    assert_bit_exact(outputs, litert_reference(mlperf_tflite, x), "MLPerf VWW streamed on an386")
    calls = [tuple(int(v) for v in line.split()[1:]) for line in text.splitlines()
             if line.startswith("C ")]
    _check_calls(calls, header)
    assert variant == "dsp"
