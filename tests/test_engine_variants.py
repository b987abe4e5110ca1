"""Every optimized kernel variant gives the bytes of its portable _ref, on the emulated
boards: random kernel cases in every buffer layout the planner uses (firmware/tools/
kernel_check.c), random compiled models and the MLPerf model against LiteRT, and the
arithmetic identities the fast requantization rests on, proven on the host."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from model_factory import convert_int8, random_model

from compiler import compile_model
from compiler.bench.device import FIRMWARE, available_boards, build_image, run_bench
from compiler.tflite_reader import read_tflite
from host_tools import emulator
from training.reference import litert_reference

ENGINE_INCLUDE = FIRMWARE / "engine" / "include"
BENCH_DEFINES = ("-include", str(FIRMWARE / "bench" / "bench_trace.h"))
# The DSP variant runs on an386 (Cortex-M4) and an500 (M7); an547 (M55) runs the MVE
# variant where it exists and the DSP one otherwise: the checker compares all it has.
BOARDS = [b for b in ("an386", "an547") if b in available_boards()]
# Random models (tests/model_factory.py) covering the variants: an expanding and a reducing
# pointwise in place (1020), depth multipliers 2 and 3 with strides (1024), the 4-channel
# depthwise fast path (1025), pointwise and a 3x3 convolution (1028).
MODEL_SEEDS = (1020, 1024, 1025, 1028)


def assert_bit_exact(got: np.ndarray, ref: np.ndarray, what: str) -> None:
    diff = got.astype(np.int32) - ref.astype(np.int32)
    if np.any(diff):
        row, col = np.argwhere(diff)[0]
        pytest.fail(f"{what}: input {row}, output {col}: device {got[row, col]}, LiteRT "
                    f"{ref[row, col]}; {np.count_nonzero(np.any(diff, axis=1))} of {len(ref)} "
                    f"inputs differ")


def test_fast_requantization_identities(tmp_path):
    """SRDHM == SMMULR(2a, b), the folded rounding divide, and the fast requantization
    within pk_requant_fast_ok's bound: 2 M random and edge cases against pk_requantize."""
    exe = tmp_path / "requant_check"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror",
                    f"-I{ENGINE_INCLUDE}", "-o", str(exe),
                    str(FIRMWARE / "tools" / "requant_check.c")], check=True)
    out = subprocess.run([str(exe), "20261122", "2000000"], capture_output=True, text=True, check=False)
    assert out.returncode == 0 and out.stdout.startswith("ok "), out.stdout + out.stderr


@pytest.mark.emulator
@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("seed", [1])
def test_kernel_variants_match_ref(board, seed, tmp_path, arm_toolchain):
    image = build_image(board, FIRMWARE / "tools" / "kernel_check.c", tmp_path,
                        defines=(f"-DPK_CHECK_SEED={seed}", "-DPK_CHECK_CASES=600"))
    cmd = emulator.qemu_command(image.elf, board, serial_port=None, icount=False)
    proc = subprocess.run(cmd, capture_output=True, timeout=300, stdin=subprocess.DEVNULL,
                          check=False)
    text = proc.stdout.decode(errors="replace")
    result = [line.split() for line in text.splitlines() if line.startswith("R ")]
    assert proc.returncode == 0 and result and result[0][2] == "0", text[-3000:]
    assert int(result[0][1]) >= 1800  # 600 cases of each of three kernels, per variant
    assert "V dsp" in text


@pytest.fixture(scope="module")
def random_tflites(tmp_path_factory):
    out = tmp_path_factory.mktemp("variant_models")
    return [convert_int8(random_model(s), out / f"random_{s}.tflite", s) for s in MODEL_SEEDS]


def _device_vs_litert(tflite: Path, board: str, tmp: Path, inputs: int, seed: int):
    compile_model(tflite, tmp / "gen")
    image = build_image(board, FIRMWARE / "bench" / "bench_main.c", tmp / "img", tmp / "gen",
                        defines=BENCH_DEFINES)
    graph = read_tflite(tflite)
    shape = graph.tensors[graph.inputs[0]].shape[1:]
    x = np.random.default_rng(seed).integers(-128, 128, size=(inputs, *shape), dtype=np.int8)
    ref = litert_reference(tflite, x)
    run = run_bench(image, x, ref.shape[1])
    return run, ref


@pytest.mark.emulator
@pytest.mark.parametrize("board", BOARDS)
def test_random_models_on_device_equal_litert(board, random_tflites, tmp_path, arm_toolchain):
    for n, tflite in enumerate(random_tflites):
        run, ref = _device_vs_litert(tflite, board, tmp_path / str(n), inputs=16, seed=n)
        assert_bit_exact(run.outputs, ref, f"{tflite.name} on {board} ({run.variant})")


@pytest.mark.emulator
@pytest.mark.parametrize("board", BOARDS)
def test_mlperf_on_device_equal_litert(board, mlperf_tflite, tmp_path, arm_toolchain):
    run, ref = _device_vs_litert(mlperf_tflite, board, tmp_path, inputs=20, seed=11)
    assert_bit_exact(run.outputs, ref, f"MLPerf VWW on {board} ({run.variant})")
    assert run.variant != "ref"


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.parametrize("board", BOARDS)
def test_mlperf_on_device_1000_inputs(board, mlperf_tflite, tmp_path, arm_toolchain):
    """The issue's acceptance check: 1,000 seeded random inputs, full output vectors."""
    run, ref = _device_vs_litert(mlperf_tflite, board, tmp_path, inputs=1000, seed=2026)
    assert_bit_exact(run.outputs, ref, f"MLPerf VWW on {board} ({run.variant}), 1000 inputs")
