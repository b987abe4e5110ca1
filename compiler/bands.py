"""Fused row-band execution of a chain of row-local layers (MCUNetV2's patch-based
inference, done with rows so that nothing is computed twice).

A *chain* is a run of consecutive layers L1..Ln, each reading only the previous one's
output, each row-local (compiler/lower.py, Step.rows). Its tensors are T0 (the chain's
source), T1..Tn-1 (intermediates) and Tn (the sink). The schedule *pulls* the sink
through the chain: a layer runs when the next layer's window lacks rows, and makes a few
rows per call (`chunks`), in increasing order, each row exactly once (no recomputation).
An intermediate never exists whole: it lives in a *band buffer* of a few rows (a sliding
window). When the consumer's next window would run past the buffer's end, the rows it
still needs are moved down to the start (a memmove, right after the consumer advanced, so
fresh rows never move; spare rows make moves rarer). If the source is the graph input,
it is pulled through the streaming API (FILL) into a band buffer of its own, so the whole
input never exists either; the sink is a whole tensor.

Kernels are called on row windows: `in_h` rows starting at the window's first row, with
pad_top adjusted; rows past the window are treated by the kernels as padding, which is
exactly right because a window always reaches the last real row its outputs need. Same
kernels, same arithmetic: fusion changes where bytes live, never what is computed.

`verify_chain` re-checks a finished schedule from scratch, byte by byte: it labels every
arena byte with (tensor, row, column) as fills, layers and moves write it, and checks that
every row each layer call reads holds exactly the row the unfused layer would read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compiler.lower import Step
from compiler.tflite_reader import Graph

ALIGN = 16  # bytes; keeps word and SIMD loads aligned on every Cortex-M (planner.py too)
FILL, LAYER, MOVE = "fill", "layer", "move"
# Regions an offset can be relative to: the chain's block of band buffers and scratch,
# the sink tensor's buffer, the source tensor's buffer (a source that is not streamed).
BLOCK, SINK, SOURCE = "block", "sink", "source"
FIELD_MAX = 0xFFFF  # rows, row counts and bytes per row are 16-bit in the generated table
PAD_TOP_MAX = 0xFF


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass
class BandOp:
    """One entry of a chain's static schedule.

    FILL:  ask the input callback for rows [a, a + b) into dst.
    LAYER: run `layer` (a step index) on `a` input rows at src, padded with `pad_top`
           rows above, writing `b` output rows at dst.
    MOVE:  memmove `a` rows of `b` bytes from src to dst.
    Offsets are (region, bytes from the region's start)."""

    kind: str
    layer: int = -1
    a: int = 0
    b: int = 0
    pad_top: int = 0
    src: tuple[str, int] = (BLOCK, 0)
    dst: tuple[str, int] = (BLOCK, 0)


@dataclass
class Chain:
    first: int  # step index of L1
    last: int  # step index of Ln
    source: int  # tensor index of T0
    sink: int  # tensor index of Tn
    streamed: bool  # T0 is the graph input, pulled through the streaming API
    chunks: list[int]  # rows per call making T0 (FILL)..Tn
    heights: list[int]  # rows of T0..Tn
    row_bytes: list[int]  # bytes per row of T0..Tn
    buffers: dict[int, tuple[int, int]]  # k -> (offset in the block, capacity in rows)
    scratch: tuple[int, int]  # (offset in the block, bytes): kernel scratch, shared
    block_bytes: int
    ops: list[BandOp] = field(default_factory=list)

    @property
    def steps(self) -> range:
        return range(self.first, self.last + 1)

    @property
    def moved_bytes(self) -> int:
        return sum(op.a * op.b for op in self.ops if op.kind == MOVE)

    @property
    def layer_calls(self) -> int:
        return sum(op.kind == LAYER for op in self.ops)

    @property
    def fills(self) -> list[BandOp]:
        return [op for op in self.ops if op.kind == FILL]

    def to_json(self, graph: Graph, steps: list[Step]) -> dict:
        return {
            "layers": [self.first, self.last],
            "source": {"tensor": self.source, "streamed": self.streamed},
            "sink": {"tensor": self.sink, "shape": list(graph.tensors[self.sink].shape)},
            "rows_per_call": self.chunks,
            "buffers": [
                {"tensor": self.source if k == 0 else steps[self.first + k - 1].output,
                 "rows": cap, "of_rows": self.heights[k], "row_bytes": self.row_bytes[k],
                 "bytes": cap * self.row_bytes[k], "offset_in_block": off}
                for k, (off, cap) in sorted(self.buffers.items())
            ],
            "scratch_bytes": self.scratch[1],
            "block_bytes": self.block_bytes,
            "ops": len(self.ops), "layer_calls": self.layer_calls,
            "moves": sum(op.kind == MOVE for op in self.ops), "moved_bytes": self.moved_bytes,
            "fills": [[op.a, op.b] for op in self.fills],
        }


# ---------------------------------------------------------------------------------------
# Which runs of steps can be fused


def _readers(steps: list[Step]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for i, s in enumerate(steps):
        for t in s.inputs:
            out.setdefault(t, []).append(i)
    return out


def fusable(step: Step) -> bool:
    """A row-local layer on 4-D tensors whose band fields fit the schedule's table."""
    if step.rows is None or step.extra_inputs or "in" not in step.dims or "out" not in step.dims:
        return False
    (_, _, iw, ic), (_, _, ow, oc) = step.dims["in"], step.dims["out"]
    return (step.rows["pad_top"] <= PAD_TOP_MAX and iw * ic <= FIELD_MAX and ow * oc <= FIELD_MAX
            and step.dims["in"][1] <= FIELD_MAX and step.dims["out"][1] <= FIELD_MAX)


def fusable_runs(graph: Graph, steps: list[Step]) -> list[tuple[int, int]]:
    """Maximal runs [first, last] of steps that one chain may cover: each fusable, each
    reading only its predecessor's output, which nothing else reads and the graph does
    not output."""
    readers = _readers(steps)
    runs: list[tuple[int, int]] = []
    i = 0
    while i < len(steps):
        if not fusable(steps[i]):
            i += 1
            continue
        j = i
        while (j + 1 < len(steps) and fusable(steps[j + 1])
               and steps[j + 1].input == steps[j].output
               and readers.get(steps[j].output) == [j + 1]
               and steps[j].output not in graph.outputs):
            j += 1
        runs.append((i, j))
        i = j + 1
    return runs


def streamable(graph: Graph, steps: list[Step], first: int) -> bool:
    """Whether a chain starting at `first` may pull its source through the streaming API:
    the source is the graph input and nothing else reads it."""
    src = steps[first].input
    return src == graph.inputs[0] and _readers(steps).get(src) == [first] \
        and src not in graph.outputs


# ---------------------------------------------------------------------------------------
# Row arithmetic


@dataclass(frozen=True)
class _Rows:
    stride: int
    pad_top: int
    taps: int
    dilation: int
    in_h: int

    def lo(self, o0: int) -> int:
        """First input row that output rows from o0 on read."""
        return min(max(o0 * self.stride - self.pad_top, 0), self.in_h)

    def hi(self, o1: int) -> int:
        """One past the last input row that output rows below o1 read."""
        if o1 <= 0:
            return 0
        last = (o1 - 1) * self.stride - self.pad_top + (self.taps - 1) * self.dilation
        return min(max(last + 1, 0), self.in_h)


def _geometry(steps: list[Step], first: int, last: int):
    layers = steps[first:last + 1]
    heights = [layers[0].dims["in"][1]] + [s.dims["out"][1] for s in layers]
    row_bytes = [layers[0].dims["in"][2] * layers[0].dims["in"][3]] + \
        [s.dims["out"][2] * s.dims["out"][3] for s in layers]
    rows = [_Rows(s.rows["stride"], s.rows["pad_top"], s.rows["taps"], s.rows["dilation"],
                  heights[k]) for k, s in enumerate(layers)]
    return rows, heights, row_bytes


# ---------------------------------------------------------------------------------------
# Building a schedule


def _simulate(rows: list[_Rows], heights: list[int], row_bytes: list[int], chunks: list[int],
              streamed: bool, caps: dict[int, tuple[int, int]] | None, first: int):
    """Pull the sink through the chain: a layer runs when the next one's window lacks rows,
    and makes chunks[k] rows of T_k per call (chunks[0]: rows per FILL). Returns (ops,
    need): need[k] is the most rows band buffer k holds at once. With caps None (a sizing
    pass) no ops are made; else caps[k] = (offset in the block, rows)."""
    n = len(rows)
    produced = [0] * (n + 1)
    if not streamed:
        produced[0] = heights[0]  # a full source: every row is there from the start
    base = [0] * (n + 1)  # the row at the start of each band buffer
    need = {k: 0 for k in range(0 if streamed else 1, n)}
    ops: list[BandOp] = []

    def where(k: int, row: int) -> tuple[str, int]:
        if k == n:
            return (SINK, row * row_bytes[k])
        if k == 0 and not streamed:
            return (SOURCE, row * row_bytes[k])
        return (BLOCK, caps[k][0] + (row - base[k]) * row_bytes[k])

    def ensure(k: int, upto: int) -> None:
        """Make rows of T_k below `upto`."""
        while produced[k] < upto:
            o0 = produced[k]
            o1 = min(o0 + chunks[k], heights[k])
            if k > 0:
                ensure(k - 1, rows[k - 1].hi(o1))
            if k < n:
                # A band buffer: rows below `keep` are read by nobody any more. If the
                # consumer's next window would run past the buffer's end, move the kept
                # rows to its start now, before fresh rows join them.
                keep = min(rows[k].lo(produced[k + 1]), o0)
                nxt = min(produced[k + 1] + chunks[k + 1], heights[k + 1])
                window_end = max(o1, rows[k].hi(nxt))
                need[k] = max(need[k], window_end - keep)
                if caps is not None and window_end - base[k] > caps[k][1]:
                    if o0 > keep:
                        ops.append(BandOp(MOVE, a=o0 - keep, b=row_bytes[k],
                                          src=where(k, keep), dst=(BLOCK, caps[k][0])))
                    base[k] = keep
            if caps is not None:
                if k == 0:
                    ops.append(BandOp(FILL, a=o0, b=o1 - o0, dst=where(0, o0)))
                else:
                    r = rows[k - 1]
                    lo, hi = r.lo(o0), r.hi(o1)
                    pad_top = lo + r.pad_top - o0 * r.stride if hi > lo else 0
                    ops.append(BandOp(LAYER, layer=first + k - 1, a=hi - lo, b=o1 - o0,
                                      pad_top=pad_top, src=where(k - 1, lo), dst=where(k, o0)))
            produced[k] = o1

    ensure(n, heights[n])
    if streamed and caps is not None:
        # Input rows below the last window (a VALID convolution's leftovers) are read by
        # no layer, but the streaming contract asks for every row: take them, then drop.
        while produced[0] < heights[0]:
            count = min(chunks[0], caps[0][1], heights[0] - produced[0])
            ops.append(BandOp(FILL, a=produced[0], b=count, dst=(BLOCK, caps[0][0])))
            produced[0] += count
    return ops, need


def build_chain(steps: list[Step], first: int, last: int, streamed: bool,
                chunks: int | list[int] = 1, spare: int | dict[int, int] = 0) -> Chain:
    """The schedule of steps[first..last] fused. chunks: rows each layer makes per call
    (one number for all, or one per tensor T0..Tn, T0's being rows per FILL). spare: rows
    each band buffer holds beyond the least it needs, in advances of its consumer's
    window (stride times rows per call); one number for all or one per buffer. Larger
    values cost memory and save kernel calls and row moves."""
    rows, heights, row_bytes = _geometry(steps, first, last)
    n = len(rows)
    chunks = [chunks] * (n + 1) if isinstance(chunks, int) else list(chunks)
    chunks = [max(1, min(c, h)) for c, h in zip(chunks, heights)]
    _, need = _simulate(rows, heights, row_bytes, chunks, streamed, None, first)
    caps: dict[int, tuple[int, int]] = {}
    offset = 0
    for k in sorted(need):
        extra = spare if isinstance(spare, int) else spare.get(k, 0)
        cap = min(heights[k], need[k] + extra * chunks[k + 1] * rows[k].stride)
        caps[k] = (offset, cap)
        offset += _align(cap * row_bytes[k])
    scratch = max((steps[i].scratch for i in range(first, last + 1)), default=0)
    ops, _ = _simulate(rows, heights, row_bytes, chunks, streamed, caps, first)
    return Chain(first, last, steps[first].input, steps[last].output, streamed, chunks,
                 heights, row_bytes, caps, (offset, scratch), offset + _align(scratch), ops)


# ---------------------------------------------------------------------------------------
# Verification


class _Labels:
    """Arena bytes labelled (tensor k, row, column) as the schedule writes them."""

    def __init__(self, size: int):
        self.code = np.full(size, -1, dtype=np.int64)

    @staticmethod
    def rows(k: int, r0: int, count: int, row_bytes: int) -> np.ndarray:
        r = np.arange(r0, r0 + count, dtype=np.int64)[:, None]
        c = np.arange(row_bytes, dtype=np.int64)[None, :]
        return ((k << 40) | (r << 20) | c).reshape(-1)


def verify_chain(chain: Chain, steps: list[Step], bases: dict[str, int], arena_bytes: int) -> None:
    """Check that executing chain.ops computes exactly what the unfused layers compute.

    bases: absolute arena offsets of the regions (BLOCK, SINK, and SOURCE when the source
    is not streamed). Raises AssertionError naming the first op that goes wrong."""
    rows, heights, row_bytes = _geometry(steps, chain.first, chain.last)
    n = len(rows)
    sizes = {BLOCK: chain.block_bytes, SINK: heights[n] * row_bytes[n]}
    if not chain.streamed:
        sizes[SOURCE] = heights[0] * row_bytes[0]
    for region, size in sizes.items():
        if bases[region] < 0 or bases[region] + size > arena_bytes:
            raise AssertionError(f"chain {chain.first}-{chain.last}: {region} outside the arena")
    if not (0 <= chain.scratch[0] and chain.scratch[0] + chain.scratch[1] <= chain.block_bytes):
        raise AssertionError(f"chain {chain.first}-{chain.last}: kernel scratch outside the block")
    scratch = (bases[BLOCK] + chain.scratch[0], bases[BLOCK] + chain.scratch[0] + chain.scratch[1])
    labels = _Labels(arena_bytes)
    if not chain.streamed:
        labels.code[bases[SOURCE]:bases[SOURCE] + sizes[SOURCE]] = _Labels.rows(0, 0, heights[0], row_bytes[0])
    produced = [heights[0] if not chain.streamed else 0] + [0] * n

    def span(where: tuple[str, int], nbytes: int, allowed: tuple[str, ...], what: str) -> tuple[int, int]:
        region, off = where
        if region not in allowed or region not in sizes:
            raise AssertionError(f"{what}: region {region} not allowed here")
        if off < 0 or off + nbytes > sizes[region]:
            raise AssertionError(f"{what}: bytes {off}..{off + nbytes} outside {region} ({sizes[region]} B)")
        start = bases[region] + off
        return start, start + nbytes

    def disjoint(a: tuple[int, int], b: tuple[int, int]) -> bool:
        return a[1] <= b[0] or b[1] <= a[0] or a[0] == a[1] or b[0] == b[1]

    for i, op in enumerate(chain.ops):
        what = f"chain {chain.first}-{chain.last}, op {i} ({op.kind})"
        if op.kind == FILL:
            if not chain.streamed or op.a != produced[0] or op.b < 1 or op.a + op.b > heights[0]:
                raise AssertionError(f"{what}: rows {op.a}+{op.b} out of order (next row {produced[0]})")
            lo, hi = span(op.dst, op.b * row_bytes[0], (BLOCK,), what)
            if not disjoint((lo, hi), scratch):
                raise AssertionError(f"{what}: writes kernel scratch")
            labels.code[lo:hi] = _Labels.rows(0, op.a, op.b, row_bytes[0])
            produced[0] += op.b
        elif op.kind == MOVE:
            lo, hi = span(op.src, op.a * op.b, (BLOCK,), what)
            dlo, dhi = span(op.dst, op.a * op.b, (BLOCK,), what)
            if not (disjoint((lo, hi), scratch) and disjoint((dlo, dhi), scratch)):
                raise AssertionError(f"{what}: touches kernel scratch")
            labels.code[dlo:dhi] = labels.code[lo:hi].copy()
        elif op.kind == LAYER:
            k = op.layer - chain.first + 1
            if not 1 <= k <= n:
                raise AssertionError(f"{what}: layer {op.layer} is not in the chain")
            r, o0 = rows[k - 1], produced[k]
            if op.b < 1 or o0 + op.b > heights[k] or op.a < 0 or op.pad_top < 0:
                raise AssertionError(f"{what}: output rows {o0}+{op.b} of {heights[k]}")
            if steps[op.layer].kernel == "pk_pad_s8" and op.b - op.a - op.pad_top < 0:
                raise AssertionError(f"{what}: negative bottom padding")
            src_regions = (BLOCK,) if (k > 1 or chain.streamed) else (SOURCE,)
            ilo, ihi = span(op.src, op.a * row_bytes[k - 1], src_regions, what)
            olo, ohi = span(op.dst, op.b * row_bytes[k], (SINK,) if k == n else (BLOCK,), what)
            if not (disjoint((ilo, ihi), (olo, ohi)) and disjoint((olo, ohi), scratch)
                    and disjoint((ilo, ihi), scratch)):
                raise AssertionError(f"{what}: input, output and kernel scratch overlap")
            for o in range(o0, o0 + op.b):
                for t in range(r.taps):
                    iy = o * r.stride - r.pad_top + t * r.dilation
                    rel = (o - o0) * r.stride - op.pad_top + t * r.dilation
                    inside = 0 <= rel < op.a
                    if not 0 <= iy < heights[k - 1]:
                        if inside:
                            raise AssertionError(f"{what}: output row {o} tap {t} should be padding")
                        continue
                    if not inside:
                        raise AssertionError(f"{what}: output row {o} tap {t} needs input row {iy}, "
                                             "outside the window")
                    at = ilo + rel * row_bytes[k - 1]
                    got = labels.code[at:at + row_bytes[k - 1]]
                    if not np.array_equal(got, _Labels.rows(k - 1, iy, 1, row_bytes[k - 1])):
                        raise AssertionError(f"{what}: output row {o} reads input row {iy} at arena "
                                             f"{at}, which does not hold it")
            labels.code[olo:ohi] = _Labels.rows(k, o0, op.b, row_bytes[k])
            produced[k] += op.b
        else:
            raise AssertionError(f"{what}: unknown op")
    # Intermediate rows no later layer reads need not be made; the sink and a streamed
    # input are complete.
    if produced[n] != heights[n] or (chain.streamed and produced[0] != heights[0]):
        raise AssertionError(f"chain {chain.first}-{chain.last}: rows made {produced}, expected {heights}")
    sink = labels.code[bases[SINK]:bases[SINK] + sizes[SINK]]
    if not np.array_equal(sink, _Labels.rows(n, 0, heights[n], row_bytes[n])):
        raise AssertionError(f"chain {chain.first}-{chain.last}: the sink does not hold every row at the end")
