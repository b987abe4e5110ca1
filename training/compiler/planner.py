"""Static memory plan: every activation gets a fixed offset in one arena, chosen so that
buffers alive at the same time never overlap (greedy by size, first fit by address)."""

from __future__ import annotations

from dataclasses import dataclass

from training.compiler.lower import Step
from training.compiler.tflite_reader import Graph

ALIGN = 16  # bytes; keeps word and SIMD loads aligned on every Cortex-M


@dataclass
class Buffer:
    """One region of the arena; reshape aliases share a buffer."""

    tensors: list[int]
    size: int
    first: int  # index of the step that writes it
    last: int  # index of the last step that reads it
    offset: int = -1

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass
class MemoryPlan:
    arena_bytes: int
    buffers: list[Buffer]
    location: dict[int, tuple[str, int]]  # tensor -> ("input", 0) or ("arena", offset)

    def to_json(self, graph: Graph) -> dict:
        return {
            "arena_bytes": self.arena_bytes,
            "alignment": ALIGN,
            "buffers": [
                {
                    "tensors": [{"index": t, "name": graph.tensors[t].name,
                                 "shape": list(graph.tensors[t].shape)} for t in b.tensors],
                    "bytes": b.size, "offset": b.offset, "first_step": b.first, "last_step": b.last,
                }
                for b in sorted(self.buffers, key=lambda b: (b.first, b.offset))
            ],
        }


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan_memory(graph: Graph, steps: list[Step]) -> MemoryPlan:
    graph_input = graph.inputs[0]
    # Union reshape aliases so they resolve to one root tensor.
    root: dict[int, int] = {}

    def find(t: int) -> int:
        while t in root:
            t = root[t]
        return t

    for s in steps:
        if s.kernel == "alias":
            root[s.output] = find(s.input)

    buffers: dict[int, Buffer] = {}
    for i, s in enumerate(steps):
        for t, is_output in ((s.input, False), (s.output, True)):
            r = find(t)
            if r == graph_input:
                continue
            b = buffers.setdefault(r, Buffer([], graph.tensors[r].num_bytes, i, i))
            if t not in b.tensors:
                b.tensors.append(t)
            b.first = min(b.first, i)
            b.last = max(b.last, i)
    out_root = find(graph.outputs[0])
    if out_root in buffers:
        buffers[out_root].last = len(steps)  # read by the final copy to the caller's output

    placed: list[Buffer] = []
    for b in sorted(buffers.values(), key=lambda b: (-b.size, b.first)):
        offset = 0
        for other in sorted((o for o in placed if o.overlaps_in_time(b)), key=lambda o: o.offset):
            if offset + b.size <= other.offset:
                break
            offset = max(offset, _align(other.offset + other.size))
        b.offset = offset
        placed.append(b)

    location: dict[int, tuple[str, int]] = {}
    for s in steps:
        for t in (s.input, s.output):
            r = find(t)
            location[t] = ("input", 0) if r == graph_input else ("arena", buffers[r].offset)
    arena = _align(max((b.offset + b.size for b in placed), default=0))
    return MemoryPlan(arena, placed, location)
