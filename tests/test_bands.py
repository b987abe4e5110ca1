"""Fused row-band execution (compiler/bands.py): the planner's verifier accepts the
schedules it builds and rejects wrong ones, and fusion brings MLPerf VWW's arena under
24 KB without any full copy of the early, large tensors or of the input."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from test_engine_exact import assert_bit_exact

from compiler import compile_model
from compiler.bands import FILL, LAYER, MOVE, build_chain, fusable_runs, streamable
from compiler.fusion import fuse_everything
from compiler.host_runner import build_host_runner, run_host_runner
from compiler.lower import lower
from compiler.planner import plan_memory, verify
from compiler.tflite_reader import read_tflite
from training.reference import litert_reference

MLPERF_ARENA_GOAL = 24_576  # issue 14: peak activation arena of MLPerf VWW, band buffers included


@pytest.fixture(scope="module")
def mlperf(mlperf_tflite):
    graph = read_tflite(mlperf_tflite)
    return graph, lower(graph)


@pytest.fixture
def plan(mlperf):
    """MLPerf's first four layers fused (the input streamed in), rows of 2 per call, so the
    schedule has fills, layer calls and moves."""
    graph, steps = mlperf
    chain = build_chain(steps, 0, 3, streamable(graph, steps, 0), 2, 0)
    assert {op.kind for op in chain.ops} == {FILL, LAYER, MOVE}
    return plan_memory(graph, steps, chains=[chain])


def _corrupt(plan, what):
    bad = copy.deepcopy(plan)
    ops = bad.chains[0].ops
    index = {kind: [i for i, op in enumerate(ops) if op.kind == kind] for kind in (FILL, LAYER, MOVE)}
    if what == "drop a move":
        del ops[index[MOVE][3]]
    elif what == "drop a fill":
        del ops[index[FILL][5]]
    elif what == "pad one row less":
        op = next(op for op in ops if op.kind == LAYER and op.pad_top > 0)
        op.pad_top -= 1
    elif what == "read one row lower":
        op = ops[index[LAYER][10]]
        op.src = (op.src[0], op.src[1] + bad.chains[0].row_bytes[op.layer - bad.chains[0].first])
    elif what == "swap two layer calls":
        i, j = index[LAYER][6], index[LAYER][7]
        ops[i], ops[j] = ops[j], ops[i]
    elif what == "block too small":
        bad.chains[0].block_bytes -= 1024
    elif what == "block on the sink":
        block = next(b for b in bad.buffers if b.chain == 0)
        block.offset = bad.chain_blocks[0] = bad.location[bad.chains[0].sink][1]
    return bad


@pytest.mark.parametrize("what", ["drop a move", "drop a fill", "pad one row less", "read one row lower",
                                  "swap two layer calls", "block too small", "block on the sink"])
def test_verifier_rejects_a_wrong_plan(plan, what):
    verify(plan)  # the plan as built passes
    with pytest.raises(AssertionError):
        verify(_corrupt(plan, what))


@pytest.mark.parametrize("seed", [0, 3, 11])  # one chain of all 28 layers; two; three
def test_verifier_accepts_arbitrary_schedules(mlperf, seed):
    """Chains cut at random, random rows per call and spare rows: every one plans and
    verifies (plan_memory runs verify)."""
    graph, steps = mlperf
    chains = fuse_everything(graph, steps, seed)
    assert [i for c in chains for i in c.steps] == list(range(28))
    plan_memory(graph, steps, chains=chains)


def test_mlperf_fused_everywhere_is_bit_exact(mlperf_tflite, tmp_path):
    """Schedules the chooser would not pick (all 28 fusable layers in three chains, odd
    rows per call) still compute LiteRT's bytes."""
    result = compile_model(mlperf_tflite, tmp_path / "gen", fuse=lambda g, s: fuse_everything(g, s, 11))
    plan = json.loads((tmp_path / "gen" / "memory_plan.json").read_text())
    assert len(plan["fused_chains"]) == 3
    x = np.random.default_rng(4).integers(-128, 128, size=(12, 96, 96, 3), dtype=np.int8)
    got = run_host_runner(build_host_runner(tmp_path / "gen"), x, 2)
    assert_bit_exact(got, litert_reference(mlperf_tflite, x), "MLPerf VWW fused everywhere")
    assert result.arena_bytes > 0


def test_mlperf_fused_arena_meets_the_goal(mlperf_tflite, tmp_path):
    fused = compile_model(mlperf_tflite, tmp_path / "fused")
    whole = compile_model(mlperf_tflite, tmp_path / "whole", fuse=False)
    assert fused.arena_bytes <= MLPERF_ARENA_GOAL < whole.arena_bytes
    plan = json.loads((tmp_path / "fused" / "memory_plan.json").read_text())
    first = plan["fused_chains"][0]
    assert first["layers"][0] == 0 and first["source"]["streamed"]
    # Neither the input nor the 48x48 tensors the first chain covers exist whole.
    hidden = {b["tensor"] for c in plan["fused_chains"] for b in c["buffers"]}
    held = {t["index"] for b in plan["buffers"] for t in b["tensors"]}
    graph = read_tflite(mlperf_tflite)
    assert graph.inputs[0] in hidden and not hidden & held
    assert max(n for _, n in first["fills"]) < graph.tensors[graph.inputs[0]].shape[1]


def test_fusable_runs_stop_at_branches_and_global_ops(mlperf):
    graph, steps = mlperf
    runs = fusable_runs(graph, steps)
    assert runs == [(0, 27)]  # convolutions and pooling; then reshape, dense, softmax
    assert all(steps[i].rows is not None for i in range(28))
