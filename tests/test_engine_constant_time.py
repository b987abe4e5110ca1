"""An inference executes the same number of instructions whatever its input, on every
board: counted exactly, from outside the guest, by a QEMU plugin
(compiler/bench/insn_count.py), per inference and per layer. The privacy audit requires
equal timing for different frames; the kernels are where timing is decided.

Inputs: all zero, all +127, all -128, a +127/-128 checkerboard, tiny values, random and
camera-like frames (compiler/bench/inputs.py). Models: MLPerf VWW (the fast requantization
everywhere) and small random models whose layers take the other paths (the general
requantization, depth multipliers, max and average pooling, PAD, MEAN, ADD, softmax).
`make bench` repeats the check on 1,000 random inputs and camera frames.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from model_factory import convert_int8, random_model, random_model_branches, random_model_more_ops

from compiler import compile_model
from compiler.bench import insn_count
from compiler.bench.device import FIRMWARE, available_boards, build_image, run_bench
from compiler.bench.inputs import constant_time_inputs
from compiler.tflite_reader import read_tflite
from host_tools import emulator

BENCH_DEFINES = ("-include", str(FIRMWARE / "bench" / "bench_trace.h"))
BOARDS = [b for b in ("an386", "an500", "an547") if b in available_boards()]
# Seeds whose layers take the non-MLPerf paths (checked by the coverage test below):
# depthwise with depth multipliers 2 and 3 and strides (1024), average pooling and
# softmax (1001), MEAN (2002), PAD and max pooling (2004), ADD and CONCATENATION (3001).
SMALL_MODELS = (("random", 1024), ("random", 1001), ("more_ops", 2002), ("more_ops", 2004),
                ("branches", 3001))
FACTORIES = {"random": random_model, "more_ops": random_model_more_ops,
             "branches": random_model_branches}


def _counts(tflite: Path, board: str, tmp: Path, defines=()):
    gen = tmp / "gen"
    if not gen.exists():
        compile_model(tflite, gen)
    graph = read_tflite(tflite)
    shape = tuple(graph.tensors[graph.inputs[0]].shape[1:])
    out_bytes = int(np.prod(graph.tensors[graph.outputs[0]].shape))
    names, x = constant_time_inputs(shape, seed=5, camera=3, random=2)
    image = build_image(board, FIRMWARE / "bench" / "bench_main.c", tmp / board, gen,
                        defines=(*BENCH_DEFINES, *defines))
    run = run_bench(image, x, out_bytes, exact=True)
    return names, run


def _assert_constant(names, run, what: str) -> None:
    counts = run.exact.inferences
    assert len(counts) == len(names)
    if counts.min() != counts.max():
        lo, hi = int(np.argmin(counts)), int(np.argmax(counts))
        layers = run.exact.layers
        spread = [i for i in range(layers.shape[1]) if layers[:, i].min() != layers[:, i].max()]
        pytest.fail(f"{what}: '{names[lo]}' took {counts[lo]} instructions, '{names[hi]}' "
                    f"{counts[hi]}; layers whose count varies: {spread}")
    # the per-layer marks come from the same run: every layer is constant too
    assert np.all(run.exact.layers == run.exact.layers[0]), what


@pytest.mark.emulator
@pytest.mark.parametrize("board", BOARDS)
def test_mlperf_instruction_count_does_not_depend_on_the_input(board, mlperf_tflite, tmp_path,
                                                               arm_toolchain):
    names, run = _counts(mlperf_tflite, board, tmp_path)
    _assert_constant(names, run, f"MLPerf VWW on {board} ({run.variant})")
    assert run.exact.layers.shape[1] >= 30  # every layer was marked


@pytest.fixture(scope="module")
def small_tflites(tmp_path_factory):
    out = tmp_path_factory.mktemp("ct_models")
    return [convert_int8(FACTORIES[kind](seed), out / f"{kind}_{seed}.tflite", seed)
            for kind, seed in SMALL_MODELS]


@pytest.mark.emulator
@pytest.mark.parametrize("board", BOARDS)
def test_small_models_instruction_count_does_not_depend_on_the_input(board, small_tflites,
                                                                     tmp_path, arm_toolchain):
    for n, tflite in enumerate(small_tflites):
        names, run = _counts(tflite, board, tmp_path / str(n))
        _assert_constant(names, run, f"{tflite.name} on {board} ({run.variant})")


def test_small_models_cover_the_other_paths(small_tflites):
    """The models above must keep exercising what they are there for."""
    from compiler.lower import lower

    kernels, general = set(), False
    for tflite in small_tflites:
        for step in lower(read_tflite(tflite)):
            kernels.add(step.kernel)
            general |= step.params.get("depth_multiplier", 1) > 1
    assert {"pk_depthwise_conv2d_s8", "pk_max_pool2d_s8", "pk_pad_s8", "pk_mean_s8",
            "pk_add_s8", "pk_softmax_s8", "pk_avg_pool2d_s8"} <= kernels, kernels
    assert general


@pytest.mark.emulator
def test_the_check_sees_a_one_instruction_difference(mlperf_tflite, tmp_path, arm_toolchain):
    """A bench build with a deliberate one-instruction dependence on the first input byte
    (BENCH_TIMING_LEAK) fails the check: it can fail, and resolves single instructions."""
    names, run = _counts(mlperf_tflite, BOARDS[0], tmp_path, defines=("-DBENCH_TIMING_LEAK",))
    counts = run.exact.inferences
    assert counts.max() - counts.min() == 1, counts
    with pytest.raises(pytest.fail.Exception):
        _assert_constant(names, run, "leaky build")


@pytest.mark.emulator
@pytest.mark.parametrize("board", BOARDS)
def test_every_kernel_variant_takes_the_same_count_for_any_input(board, tmp_path, arm_toolchain):
    """Kernel level, every path: firmware/tools/kernel_check.c runs each optimized variant
    and its reference on random shapes, parameters and layouts (fast and general
    requantization, clamps, fallbacks), each four times with inputs of zeros, +127, -128
    and random bytes; the four counts of every call must be equal."""
    cases = 150
    image = build_image(board, FIRMWARE / "tools" / "kernel_check.c", tmp_path,
                        defines=("-DPK_CHECK_SEED=3", f"-DPK_CHECK_CASES={cases}",
                                 "-DPK_CHECK_CONSTANT_TIME"))
    marks = tmp_path / "marks.txt"
    cmd = emulator.qemu_command(image.elf, board, serial_port=None, icount=False)
    cmd += insn_count.plugin_args(image.elf, marks, layer=None)
    proc = subprocess.run(cmd, capture_output=True, timeout=300, stdin=subprocess.DEVNULL,
                          check=False)
    text = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    counts = insn_count.parse(marks).inferences
    variants = text.count("V ")
    # up to three kernels per case (a geometry that does not fit is skipped), two
    # implementations each, four inputs each
    assert len(counts) % 4 == 0 and len(counts) >= 4 * 2 * 2 * cases * variants
    groups = counts.reshape(-1, 4)
    bad = np.flatnonzero(groups.min(axis=1) != groups.max(axis=1))
    assert bad.size == 0, f"{bad.size} of {len(groups)} kernel calls vary: e.g. {groups[bad[:5]].tolist()}"
