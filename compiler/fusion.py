"""Which layers to fuse into row-band chains (compiler/bands.py), and how.

Greedy on the planned arena: while some chain lowers it enough to pay for the instructions
it adds, add the best one. A chain can only lower the peak if it covers the step where the
peak is, so candidates are the runs of fusable steps through that step, first built with
the least memory (one row per call, band buffers just large enough); the most promising
are then tuned: more rows per call and spare buffer rows cost memory but save kernel calls
and row moves, and are taken as long as the arena does not grow. What a chain adds is
estimated by band_overhead (calibrated on the an386 bench).
"""

from __future__ import annotations

import numpy as np

from compiler.bands import Chain, build_chain, fusable_runs, streamable
from compiler.lower import Step
from compiler.planner import plan_memory
from compiler.tflite_reader import Graph

# Instructions a schedule adds, estimated from the an386 bench (compiler/bench, QEMU
# instructions): the fixed part of one kernel call (argument set-up, the kernel's own
# prologue and per-call tables), one input callback call, one byte moved by memmove.
CALL_COST = 700
FILL_COST = 100
MOVE_COST_PER_BYTE = 0.8
# What a byte of arena is worth: a chain must save at least one byte per this many
# instructions it adds (32: 1 KB for about 32 K instructions, 0.2 ms at 150 MHz).
INSTRUCTIONS_PER_BYTE = 32


def band_overhead(chain: Chain) -> float:
    """Estimated instructions the chain's schedule adds to the unfused layers' work."""
    return (CALL_COST * chain.layer_calls + FILL_COST * len(chain.fills)
            + MOVE_COST_PER_BYTE * chain.moved_bytes)


def _free_runs(graph: Graph, steps: list[Step], chains: list[Chain]) -> list[tuple[int, int]]:
    taken = {i for c in chains for i in c.steps}
    runs = []
    for first, last in fusable_runs(graph, steps):
        start = None
        for i in range(first, last + 2):
            if i <= last and i not in taken:
                start = i if start is None else start
            elif start is not None:
                runs.append((start, i - 1))
                start = None
    return runs


def _arena(graph: Graph, steps: list[Step], chains: list[Chain]) -> int:
    """The arena a trial plan needs (unverified: compile_model verifies the plan it keeps)."""
    return plan_memory(graph, steps, chains=chains, check=False).arena_bytes


def _peak_step(plan, n_steps: int) -> int:
    live = plan.live_bytes(n_steps)
    return max(range(n_steps), key=lambda i: live[i])


def choose_chains(graph: Graph, steps: list[Step], max_layers: int = 16,
                  candidates: int = 4) -> list[Chain]:
    """The chains to fuse, each with its schedule; [] when fusion does not pay. Each round
    builds every chain through the peak step with the least memory, tunes the few that
    lower the arena most, and adds the one whose bytes saved are worth most against the
    instructions it adds (INSTRUCTIONS_PER_BYTE), if any is worth it."""
    chains: list[Chain] = []
    arena = _arena(graph, steps, [])
    while True:
        plan = plan_memory(graph, steps, chains=chains, check=False)
        peak = _peak_step(plan, len(steps))
        found: list[tuple[int, float, Chain]] = []
        for first, last in _free_runs(graph, steps, chains):
            if not first <= peak <= last:
                continue
            for a in range(max(first, peak - max_layers + 1), peak + 1):
                for b in range(peak, min(last, a + max_layers - 1) + 1):
                    cand = build_chain(steps, a, b, streamable(graph, steps, a))
                    size = _arena(graph, steps, [*chains, cand])
                    if size < arena:
                        found.append((size, band_overhead(cand), cand))
        best: tuple[float, int, Chain] | None = None
        for size, _, cand in sorted(found, key=lambda f: f[:2])[:candidates]:
            tuned = _tune(graph, steps, chains, cand, size)
            worth = (arena - size) * INSTRUCTIONS_PER_BYTE - band_overhead(tuned)
            if worth > 0 and (best is None or worth > best[0]):
                best = (worth, size, tuned)
        if best is None:
            return chains
        arena = best[1]
        chains.append(best[2])


def _tune(graph: Graph, steps: list[Step], chains: list[Chain], chosen: Chain, arena: int) -> Chain:
    """The cheapest schedule of the chosen layers that keeps the arena at `arena`: from the
    least-memory schedule, repeatedly double one layer's rows per call or give one band
    buffer one more advance of spare rows, whichever saves the most, while the arena
    does not grow."""
    chunks, spare = list(chosen.chunks), {k: 0 for k in chosen.buffers}
    best, best_cost = chosen, band_overhead(chosen)
    while True:
        trials = []
        for k in range(0 if chosen.streamed else 1, len(chunks)):
            if chunks[k] < chosen.heights[k]:
                trials.append(([*chunks[:k], chunks[k] * 2, *chunks[k + 1:]], spare))
        for k, extra in spare.items():
            if best.buffers[k][1] < chosen.heights[k]:
                trials.append((chunks, {**spare, k: extra + 1}))
        found = None
        for c, sp in trials:
            cand = build_chain(steps, chosen.first, chosen.last, chosen.streamed, c, sp)
            cost = band_overhead(cand)
            if cost < best_cost and (found is None or cost < found[0]) and \
                    _arena(graph, steps, [*chains, cand]) <= arena:
                found = (cost, cand, c, sp)
        if found is None:
            return best
        best_cost, best, chunks, spare = found


def fuse_everything(graph: Graph, steps: list[Step], seed: int = 0) -> list[Chain]:
    """Every fusable run fused, cut into chains at random places, with random rows per call
    and spare rows: for tests, which must also cover schedules the chooser would not pick."""
    rng = np.random.default_rng(seed)
    chains = []
    for first, last in fusable_runs(graph, steps):
        a = first
        while a <= last:
            b = int(rng.integers(a, last + 1)) if rng.random() < 0.4 else last
            n = b - a + 2
            chains.append(build_chain(steps, a, b, streamable(graph, steps, a),
                                      [int(c) for c in rng.choice([1, 1, 2, 3], size=n)],
                                      int(rng.choice([0, 0, 1, 2]))))
            a = b + 1
    return chains
