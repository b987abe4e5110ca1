"""Static memory plan: every activation and every kernel scratch gets a fixed offset in one
arena, chosen so that buffers alive at the same time never overlap, except where a kernel's
access pattern provably allows its output to overlap its input (pk_engine.h, "Buffer
overlap"): a pointwise convolution in place, a row-streaming kernel (convolution,
depthwise, average pooling) with its output starting `delta` bytes before its input.

Such an input/output pair is *anchored*: the output's offset is the input's plus delta.
Anchored buffers form chains that are placed as one rigid piece, greedy by size and first
fit by address. `verify` re-checks a finished plan from scratch; tests run it on every
model they compile.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from compiler.bands import ALIGN, BLOCK, SINK, SOURCE, Chain, _align, verify_chain
from compiler.lower import Step
from compiler.tflite_reader import Graph


@dataclass
class Buffer:
    """One region of the arena: an activation (reshape aliases share one) or a scratch."""

    tensors: list[int]
    size: int
    first: int  # index of the step that writes it
    last: int  # index of the last step that reads it
    offset: int = -1
    scratch_of: int | None = None  # step index, for a kernel's scratch
    chain: int | None = None  # index into MemoryPlan.chains, for a chain's block
    # (id of the input buffer, least delta, greatest delta) when anchored; None = unbounded
    anchor: tuple[int, int | None, int | None] | None = None
    ident: int = -1

    def overlaps_in_time(self, other: Buffer) -> bool:
        return self.first <= other.last and other.first <= self.last

    def overlaps_in_space(self, other: Buffer) -> bool:
        return self.offset < other.offset + other.size and other.offset < self.offset + self.size


@dataclass
class MemoryPlan:
    arena_bytes: int
    buffers: list[Buffer]
    location: dict[int, tuple[str, int]]  # tensor -> ("arena", offset)
    scratch: dict[int, tuple[int, int]] = field(default_factory=dict)  # step -> (offset, bytes)
    chains: list[Chain] = field(default_factory=list)  # fused row-band chains
    chain_blocks: list[int] = field(default_factory=list)  # arena offset of each chain's block
    steps: list[Step] = field(default_factory=list)

    def live_bytes(self, steps: int) -> list[int]:
        """Arena bytes in use (from the lowest to the highest live byte) at each step."""
        out = []
        for i in range(steps):
            live = [b for b in self.buffers if b.first <= i <= b.last]
            out.append(max((b.offset + b.size for b in live), default=0)
                       - min((b.offset for b in live), default=0))
        return out

    def to_json(self, graph: Graph) -> dict:
        by_id = {b.ident: b for b in self.buffers}
        return {
            "arena_bytes": self.arena_bytes,
            "alignment": ALIGN,
            "buffers": [
                {
                    "tensors": [{"index": t, "name": graph.tensors[t].name,
                                 "shape": list(graph.tensors[t].shape)} for t in b.tensors],
                    "kind": ("scratch" if b.scratch_of is not None else
                             "band buffers" if b.chain is not None else "activation"),
                    "bytes": b.size, "offset": b.offset, "first_step": b.first, "last_step": b.last,
                    **({"overlaps_input": {
                        "tensors": by_id[b.anchor[0]].tensors,
                        "delta": b.offset - by_id[b.anchor[0]].offset,
                        "allowed": [b.anchor[1], b.anchor[2]]}} if b.anchor else {}),
                }
                for b in sorted(self.buffers, key=lambda b: (b.first, b.offset))
            ],
            "fused_chains": [dict(c.to_json(graph, self.steps), block_offset=off)
                             for c, off in zip(self.chains, self.chain_blocks)],
        }


def _align_down(n: int) -> int:
    return n // ALIGN * ALIGN


def plan_memory(graph: Graph, steps: list[Step], overlap: bool = True,
                chains: list[Chain] = (), check: bool = True) -> MemoryPlan:
    """Plan the arena. overlap=False gives the plain plan (no anchored pairs), for
    comparison. chains: fused row-band chains (compiler/bands.py); their intermediate
    tensors get no buffer, each chain one block (band buffers and kernel scratch) alive
    from its first step to its last, its source and sink alive over all of it.
    check=False skips verify (for trial plans whose only use is their size)."""
    graph_input = graph.inputs[0]
    chains = list(chains)
    in_chain = {i: c for c in chains for i in c.steps}
    hidden = {steps[i].output for c in chains for i in range(c.first, c.last)}
    if any(c.streamed for c in chains):
        hidden.add(graph_input)
    root: dict[int, int] = {}

    def find(t: int) -> int:
        while t in root:
            t = root[t]
        return t

    for s in steps:
        if s.kernel == "alias":
            root[s.output] = find(s.input)

    # Unless a chain streams it, the graph input lives in the arena: the streaming API
    # fills it whole before step 0.
    in_root = find(graph_input)
    buffers: dict[int, Buffer] = {}
    if in_root not in hidden:
        buffers[in_root] = Buffer([graph_input], graph.tensors[in_root].num_bytes, 0, 0)
    for i, s in enumerate(steps):
        c = in_chain.get(i)
        start, stop = (c.first, c.last) if c else (i, i)
        for t in (*s.inputs, s.output):
            r = find(t)
            if r in hidden:
                continue
            b = buffers.setdefault(r, Buffer([], graph.tensors[r].num_bytes, start, stop))
            if t not in b.tensors:
                b.tensors.append(t)
            b.first = min(b.first, start)
            b.last = max(b.last, stop)
    out_root = find(graph.outputs[0])
    if out_root in buffers:
        buffers[out_root].last = len(steps)  # read by the final copy to the caller's output
    everything = list(buffers.values())
    scratch_buffers: dict[int, Buffer] = {}
    for i, s in enumerate(steps):
        if s.scratch and i not in in_chain:
            scratch_buffers[i] = Buffer([], s.scratch, i, i, scratch_of=i)
            everything.append(scratch_buffers[i])
    blocks = [Buffer([], c.block_bytes, c.first, c.last, chain=n) for n, c in enumerate(chains)]
    everything += blocks
    for n, b in enumerate(everything):
        b.ident = n

    # Anchors: the step's input dies at this step and its kernel allows the overlap.
    if overlap:
        for i, s in enumerate(steps):
            if s.overlap is None or s.kernel == "alias" or s.extra_inputs or i in in_chain:
                continue
            src, dst = find(s.input), find(s.output)
            if src == dst or src not in buffers or dst not in buffers:
                continue
            bi, bo = buffers[src], buffers[dst]
            if bi.last != i or bo.first != i or bo.anchor is not None:
                continue
            lo, hi = s.overlap["min_delta"], s.overlap["max_delta"]
            bo.anchor = (bi.ident,
                         None if lo is None else _align(lo),
                         None if hi is None else _align_down(hi))

    # Anchored buffers form runs (each buffer anchors at most one other, and is anchored
    # by at most one); each run is laid out with the least span, then placed rigidly.
    successor = {b.anchor[0]: b for b in everything if b.anchor is not None}
    groups = []
    for b in everything:
        if b.anchor is not None:
            continue  # not a run's head
        run = [b]
        while run[-1].ident in successor:
            run.append(successor[run[-1].ident])
        groups.append(list(zip(run, _layout_anchored(run))))

    placed: list[Buffer] = []
    for group in sorted(groups, key=lambda g: (-max(b.size for b, _ in g), min(b.first for b, _ in g))):
        _place(group, placed)

    location: dict[int, tuple[str, int]] = {}
    for t in (graph_input, *(t for s in steps for t in (*s.inputs, s.output))):
        if find(t) not in hidden:
            location[t] = ("arena", buffers[find(t)].offset)
    arena = _align(max((b.offset + b.size for b in placed), default=0))
    plan = MemoryPlan(arena, placed, location,
                      {i: (b.offset, b.size) for i, b in scratch_buffers.items()},
                      chains, [b.offset for b in blocks], steps)
    if check:
        verify(plan)
    return plan


def chain_bases(plan: MemoryPlan, n: int) -> dict[str, int]:
    """Arena offsets of the regions chain n's schedule refers to (compiler/bands.py)."""
    c = plan.chains[n]
    bases = {BLOCK: plan.chain_blocks[n], SINK: plan.location[c.sink][1]}
    if not c.streamed:
        bases[SOURCE] = plan.location[c.source][1]
    return bases


def _layout_anchored(chain: list[Buffer]) -> list[int]:
    """Offsets (relative, >= 0, aligned) for a run b0 -> b1 -> ... where b[k+1] starts
    within b[k]'s anchor range of b[k], with the least total span: binary search on the
    span W; for a given W the feasible starts of each buffer form one interval, propagated
    forward, then a consistent choice is made backward."""
    if len(chain) == 1:
        return [0]
    unit = [(_align(b.size)) // ALIGN for b in chain]
    ranges = []
    for b in chain[1:]:
        _, lo, hi = b.anchor
        ranges.append((-(1 << 40) if lo is None else lo // ALIGN,
                       (1 << 40) if hi is None else hi // ALIGN))

    def intervals(width: int) -> list[tuple[int, int]] | None:
        out = [(0, width - unit[0])]
        for k, (lo, hi) in enumerate(ranges):
            a = max(0, out[-1][0] + lo)
            z = min(width - unit[k + 1], out[-1][1] + hi)
            if a > z:
                return None
            out.append((a, z))
        return out

    low, high = max(unit), sum(unit)  # high: one after another always fits
    while low < high:
        mid = (low + high) // 2
        if intervals(mid) is None:
            low = mid + 1
        else:
            high = mid
    iv = intervals(low)
    pos = [iv[-1][0]]
    for k in range(len(chain) - 2, -1, -1):
        lo, hi = ranges[k]
        a = max(iv[k][0], pos[0] - hi)
        z = min(iv[k][1], pos[0] - lo)
        assert a <= z
        pos.insert(0, a)
    return [p * ALIGN for p in pos]


def _place(group: list[tuple[Buffer, int]], placed: list[Buffer]) -> None:
    """Lowest aligned base at which no member collides with a placed buffer alive at the
    same time (candidates: 0 and just past the end of each such buffer)."""
    candidates = {0}
    for b, rel in group:
        for other in placed:
            if other.overlaps_in_time(b):
                candidates.add(max(0, _align(other.offset + other.size - rel)))
    for base in sorted(candidates):
        if all(not (other.overlaps_in_time(b) and other.offset < base + rel + b.size
                    and base + rel < other.offset + other.size)
               for b, rel in group for other in placed):
            for b, rel in group:
                b.offset = base + rel
                placed.append(b)
            return
    raise AssertionError("no base found")  # unreachable: past every placed buffer is free


def _anchored(out: Buffer, inp: Buffer) -> bool:
    """out is anchored to inp at an allowed delta, and inp dies where out is made."""
    if out.anchor is None or out.anchor[0] != inp.ident or out.first != inp.last:
        return False
    _, lo, hi = out.anchor
    delta = out.offset - inp.offset
    return (lo is None or delta >= lo) and (hi is None or delta <= hi)


def verify(plan: MemoryPlan) -> None:
    """Every two buffers alive at the same step are disjoint in the arena, unless they are an
    anchored input/output pair at exactly their anchor's delta; offsets are aligned; every
    fused chain's schedule computes what its layers compute (bands.verify_chain)."""
    bufs = plan.buffers
    for b in bufs:
        if b.offset < 0 or b.offset % ALIGN or b.offset + b.size > plan.arena_bytes:
            raise AssertionError(f"buffer {_name(b)} misplaced at {b.offset}")
    for i, a in enumerate(bufs):
        for b in bufs[i + 1:]:
            if not (a.overlaps_in_time(b) and a.overlaps_in_space(b)):
                continue
            pair = _anchored(a, b) or _anchored(b, a)
            if not pair:
                raise AssertionError(f"buffers {_name(a)} and {_name(b)} overlap")
    for n, c in enumerate(plan.chains):
        verify_chain(c, plan.steps, chain_bases(plan, n), plan.arena_bytes)


def _name(b: Buffer) -> str:
    if b.chain is not None:
        return f"chain {b.chain} block"
    return f"scratch of step {b.scratch_of}" if b.scratch_of is not None else f"tensors {b.tensors}"
