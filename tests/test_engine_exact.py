"""The engine is bit-exact with LiteRT's reference kernels: random models covering every
supported op and option, and the MLPerf VWW reference model, built for the host."""

from __future__ import annotations

import numpy as np
import pytest
from model_factory import convert_int8, random_model, random_model_branches, random_model_more_ops

from compiler import compile_model
from compiler.host_runner import build_host_runner, run_host_runner
from compiler.tflite_reader import read_tflite
from training.reference import litert_reference

RANDOM_MODEL_SEEDS = range(1000, 1150)
MORE_OPS_SEEDS = range(2001, 2031)  # random_model_more_ops: max pooling, PAD, MEAN
BRANCH_SEEDS = range(3000, 3020)  # random_model_branches: ADD, CONCATENATION, residuals


def assert_bit_exact(got: np.ndarray, ref: np.ndarray, what: str) -> None:
    diff = got.astype(np.int32) - ref.astype(np.int32)
    if np.any(diff):
        row, col = np.argwhere(diff)[0]
        pytest.fail(f"{what}: input {row}, output {col}: engine {got[row, col]}, LiteRT "
                    f"{ref[row, col]}; {np.count_nonzero(np.any(diff, axis=1))} of {len(ref)} "
                    f"inputs differ, max {np.abs(diff).max()} LSB")


def check_model(tflite_path, out_dir, inputs: int, seed: int, fuse=True) -> None:
    result = compile_model(tflite_path, out_dir / "gen", fuse=fuse)
    runner = build_host_runner(out_dir / "gen")
    graph = read_tflite(tflite_path)
    shape = graph.tensors[graph.inputs[0]].shape[1:]
    x = np.random.default_rng(seed).integers(-128, 128, size=(inputs, *shape), dtype=np.int8)
    ref = litert_reference(tflite_path, x)
    assert_bit_exact(run_host_runner(runner, x, ref.shape[1]), ref, tflite_path.name)
    assert result.arena_bytes > 0


@pytest.fixture(scope="session")
def random_tflite(tmp_path_factory):
    """Convert each random model once per session: conversion is the slow part."""
    cache = {}

    def get(seed: int):
        if seed not in cache:
            out = tmp_path_factory.mktemp(f"random_{seed}")
            cache[seed] = convert_int8(random_model(seed), out / f"random_{seed}.tflite", seed)
        return cache[seed]

    return get


@pytest.mark.parametrize("seed", RANDOM_MODEL_SEEDS)
def test_random_model_bit_exact(seed, random_tflite, tmp_path):
    check_model(random_tflite(seed), tmp_path, inputs=64, seed=seed)


def test_random_models_cover_every_kernel_and_option(random_tflite):
    """The seeds above must exercise what they claim to; a generator change that stops
    producing some option would silently weaken the suite."""
    from compiler.lower import lower

    kernels, options = set(), set()
    for seed in RANDOM_MODEL_SEEDS:
        graph = read_tflite(random_tflite(seed))
        for step in lower(graph):
            kernels.add(step.kernel)
            p = step.params
            if p.get("depth_multiplier", 1) > 1:
                options.add("depth_multiplier")
            if p.get("dilation_h", 1) > 1:
                options.add("dilation")
            if p.get("stride_h", 1) > 1:
                options.add("stride")
            if p.get("pad_top", 0) > 0:
                options.add("padding")
            act = step.op.options.get("FusedActivationFunction", 0)
            options.add({0: "no activation", 1: "relu", 3: "relu6"}.get(act, f"act {act}"))
            if step.op.options.get("Padding") == 1:
                options.add("valid")
    assert kernels >= {"pk_conv2d_s8", "pk_conv2d_1x1_s8", "pk_depthwise_conv2d_s8",
                       "pk_avg_pool2d_s8", "pk_fully_connected_s8", "pk_softmax_s8", "alias",
                       "pk_conv2d_1x1_s8_packed"}
    assert options >= {"depth_multiplier", "dilation", "stride", "padding", "valid", "relu",
                       "relu6", "no activation"}, options


@pytest.fixture(scope="session")
def more_ops_tflite(tmp_path_factory):
    cache = {}

    def get(seed: int):
        if seed not in cache:
            out = tmp_path_factory.mktemp(f"more_ops_{seed}")
            cache[seed] = convert_int8(random_model_more_ops(seed), out / f"more_ops_{seed}.tflite", seed)
        return cache[seed]

    return get


@pytest.mark.parametrize("seed", MORE_OPS_SEEDS)
def test_random_model_more_ops_bit_exact(seed, more_ops_tflite, tmp_path):
    check_model(more_ops_tflite(seed), tmp_path, inputs=32, seed=seed)


@pytest.fixture(scope="session")
def branches_tflite(tmp_path_factory):
    cache = {}

    def get(seed: int):
        if seed not in cache:
            out = tmp_path_factory.mktemp(f"branches_{seed}")
            cache[seed] = convert_int8(random_model_branches(seed), out / f"branches_{seed}.tflite", seed)
        return cache[seed]

    return get


@pytest.mark.parametrize("seed", BRANCH_SEEDS)
def test_random_model_branches_bit_exact(seed, branches_tflite, tmp_path):
    check_model(branches_tflite(seed), tmp_path, inputs=32, seed=seed)


def test_branch_models_cover_add_and_concatenation(branches_tflite):
    from compiler.lower import lower

    kernels = set()
    for seed in BRANCH_SEEDS:
        kernels.update(step.kernel for step in lower(read_tflite(branches_tflite(seed))))
    assert {"pk_add_s8", "pk_concat_s8"} <= kernels, kernels


def test_more_ops_models_cover_the_new_ops(more_ops_tflite):
    from compiler.lower import lower

    kernels = set()
    for seed in MORE_OPS_SEEDS:
        kernels.update(step.kernel for step in lower(read_tflite(more_ops_tflite(seed))))
    assert {"pk_max_pool2d_s8", "pk_pad_s8", "pk_mean_s8"} <= kernels, kernels


def test_mlperf_reference_model_bit_exact(mlperf_tflite, tmp_path):
    check_model(mlperf_tflite, tmp_path, inputs=200, seed=7)


# Fused row bands imposed on every fusable run, cut into chains at random, with odd rows
# per call and spare rows (compiler/fusion.py fuse_everything): the chooser fuses few of
# these small models, so these are what hold the band schedules to LiteRT on every op and
# option (test_fused_seeds_cover_every_band_case says which).
FUSED = (*(("random", s) for s in range(1000, 1008)), *(("more_ops", s) for s in range(2001, 2005)),
         ("branches", 3000), ("branches", 3001))


def _everything(seed):
    from compiler.fusion import fuse_everything

    return lambda graph, steps: fuse_everything(graph, steps, seed)


@pytest.mark.parametrize(("kind", "seed"), FUSED)
def test_random_model_fused_everywhere_bit_exact(kind, seed, request, tmp_path):
    tflite = request.getfixturevalue(f"{kind}_tflite")(seed)
    check_model(tflite, tmp_path, inputs=16, seed=seed, fuse=_everything(seed))


def test_fused_seeds_cover_every_band_case(request):
    from compiler.lower import lower

    cases = set()
    for kind, seed in FUSED:
        graph = read_tflite(request.getfixturevalue(f"{kind}_tflite")(seed))
        steps = lower(graph)
        chains = _everything(seed)(graph, steps)
        cases.add("several chains" if len(chains) > 1 else "one chain")
        for c in chains:
            cases.add("streamed input" if c.streamed else "source in the arena")
            for i in c.steps:
                s, r = steps[i], steps[i].rows
                cases.add(s.kernel)
                cases.update(name for name, on in (
                    ("stride", r["stride"] > 1), ("dilation", r["dilation"] > 1),
                    ("padding above", r["pad_top"] > 0), ("no padding above", r["taps"] > 1 and r["pad_top"] == 0),
                    ("depth multiplier", s.params.get("depth_multiplier", 1) > 1)) if on)
            if any(n > 1 for n in c.chunks):
                cases.add("several rows per call")
            if any(op.kind == "move" for op in c.ops):
                cases.add("moves")
    assert cases >= {"several chains", "one chain", "streamed input", "source in the arena",
                     "pk_conv2d_s8", "pk_conv2d_1x1_s8", "pk_depthwise_conv2d_s8", "pk_avg_pool2d_s8",
                     "pk_max_pool2d_s8", "pk_pad_s8", "stride", "dilation", "padding above",
                     "no padding above", "depth multiplier", "several rows per call", "moves"}, cases
