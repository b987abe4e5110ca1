"""Run two devices side by side on two frame sequences and compare everything an observer
can see, event by event.

Both devices run the same image; each is stopped (by the debugger) before every byte it
writes to any UART and at every checkpoint (after a frame's wipe). At each stop the two
must agree:

- on what the stop is (a byte on UART *c*, a checkpoint, an exit) and on the
  instruction count at which it happens (QEMU's own counter: timing);
- on every byte each UART has sent so far (output);
- at a checkpoint, on every register and every byte of every RAM block of the board,
  the sensor window and the writable code region included (memory).

The first stop where they disagree is kept, with its frame, channel, byte and counts.
From there on the runs are compared at checkpoints only (their byte-by-byte timing has
already diverged), so the report can still say what differs at every later frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..checkpoints import elf_symbols, symbol_address
from .rsp import Stop

#: Where a production image halts on any error (r0 = exit status).
HALT_SYMBOL = "pk_hal_exit"
#: Differing bytes closer than this are one range.
RANGE_GAP = 16
#: Bytes of each run kept per checkpoint for the diagnostics (what leaked).
KEEP_BYTES = 1 << 20
#: Checkpoints whose memory differences are kept in full (the rest are counted).
KEEP_CHECKPOINTS = 8


@dataclass
class Event:
    kind: str  # "byte", "checkpoint", "exit", "timeout", "other"
    icount: int | None
    channel: int | None = None
    detail: str = ""

    def describe(self) -> str:
        at = f" at instruction {self.icount:,}" if self.icount is not None else ""
        if self.kind == "byte":
            return f"a write to UART{self.channel}'s data register{at}"
        if self.kind == "checkpoint":
            return f"the checkpoint{at}"
        if self.kind == "exit":
            return f"an exit ({self.detail})"
        return f"{self.kind} ({self.detail}){at}"


@dataclass
class RunTrace:
    """What one run showed the observer."""

    label: str
    outputs: list[bytearray]  # per UART
    byte_icounts: list[list[int]]  # per UART: instruction count of each byte's write (fine mode)
    checkpoints: list[tuple[int, int]] = field(default_factory=list)  # (frames done, icount)
    cuts: list[list[int]] = field(default_factory=list)  # per checkpoint: bytes per UART so far
    end: str = ""
    exit_code: int | None = None
    boot_frame: int | None = None  # the frame in progress before the first checkpoint

    def frame_of(self, channel: int, offset: int) -> int | None:
        """Which frame was being processed when UART ``channel`` sent byte ``offset``
        (None: at boot, before the first frame)."""
        frame = self.boot_frame
        for (done, _), cut in zip(self.checkpoints, self.cuts, strict=True):
            if cut[channel] > offset:
                return frame
            frame = done
        return frame


@dataclass
class MemoryDiff:
    """Differences between the runs at one checkpoint."""

    frames_done: int
    ranges: list[tuple[str, int, int, int]]  # (region, first address, last address, bytes)
    registers: list[str]
    bytes_differing: int
    kept: list[tuple[str, int, bytes, bytes]] = field(default_factory=list)  # (region, addr, A, B)


@dataclass
class LockstepResult:
    a: RunTrace
    b: RunTrace
    first_difference: str | None = None
    first_difference_frame: int | None = None
    firsts: dict[str, str] = field(default_factory=dict)  # kind -> its first difference
    first_frames: dict[str, int | None] = field(default_factory=dict)  # kind -> its frame
    timing_differences: int = 0
    output_differences: int = 0
    memory: list[MemoryDiff] = field(default_factory=list)
    checkpoints_compared: int = 0
    memory_bytes_compared: int = 0
    regions: list[str] = field(default_factory=list)
    uarts: list[str] = field(default_factory=list)
    byte_events_compared: int = 0
    error: str | None = None
    wall_s: float = 0.0
    snapshot_s: float = 0.0
    cut_short: int | None = None  # frames done when the comparison stopped after a difference

    @property
    def identical(self) -> bool:
        return (
            self.first_difference is None
            and not self.memory
            and self.error is None
            and self.a.outputs == self.b.outputs
        )


class _Side:
    """One device with its feeder and trace."""

    def __init__(self, dev, feeder, label: str) -> None:
        self.dev = dev
        self.feeder = feeder
        self.trace: RunTrace | None = None
        self.label = label
        self.stop: Stop | None = None
        self.stops = 0  # checkpoint stops so far
        self.frames_done = 0
        self.ended = False
        self.halt_addr: int | None = None
        self.pc: int | None = None  # where the core stopped, when it was read

    def start(self, bp: int) -> None:
        self.dev.start()
        syms = elf_symbols(self.dev.elf)
        self.halt_addr = syms[HALT_SYMBOL][0] & ~1 if HALT_SYMBOL in syms else None
        n = len(self.dev.map.uarts)
        self.trace = RunTrace(self.label, [bytearray() for _ in range(n)], [[] for _ in range(n)])
        self.trace.boot_frame = None if self.feeder.boot_phase(0) else 0
        self.feeder.prepare(self.dev.link)
        self.dev.link.set_breakpoint(bp)
        if self.halt_addr is not None and not self.feeder.exits_by_itself:
            self.dev.link.set_breakpoint(self.halt_addr)

    def collect_output(self) -> list[bytes]:
        new = [self.dev.new_output(c) for c in range(len(self.trace.outputs))]
        for c, data in enumerate(new):
            self.trace.outputs[c] += data
        return new

    def event(self, bp: int) -> Event:
        s = self.stop
        self.pc = None
        if s.kind == "exit":
            self.ended = True
            self.trace.exit_code = s.code
            return Event("exit", None, detail=f"status {s.code}")
        icount = self.dev.icount()
        if s.kind == "watch":
            try:
                return Event("byte", icount, self.dev.map.uart_of(s.addr))
            except KeyError:
                return Event("other", icount, detail=f"watchpoint at {s.addr:#x}")
        if s.kind == "break":
            pc = self.pc = self.dev.link.read_register(15)
            if pc == bp:
                return Event("checkpoint", icount)
            if pc == self.halt_addr:
                # A production image halts in pk_hal_exit(status) on any error.
                self.ended = True
                status = self.dev.link.read_register(0)
                return Event("exit", icount, detail=f"halted in pk_hal_exit({status})")
            return Event("other", icount, detail=f"stopped at pc {pc:#x}")
        return Event("other", icount, detail=s.raw.decode(errors="replace")[:40])


def run_lockstep(
    dev_a,
    dev_b,
    feed_a,
    feed_b,
    timeout_s: float = 60.0,
    on_checkpoint: Callable[[int], None] | None = None,
    frames_after_difference: int | None = 2,
) -> LockstepResult:
    """Run ``dev_a`` fed by ``feed_a`` and ``dev_b`` fed by ``feed_b`` (the same image, the
    frames in two orders) and compare them; see the module doc. ``on_checkpoint(frames
    done)`` is called at each common checkpoint (progress). Once the runs differ, they
    are compared for ``frames_after_difference`` more frames (enough to say what leaks;
    None: to the end), then stopped: the verdict is already known, and a device that
    dumps its frames would otherwise take long to run to the end."""
    t_start = time.monotonic()
    bp = symbol_address(dev_a.elf, feed_a.symbol)
    sides = [_Side(dev_a, feed_a, "A"), _Side(dev_b, feed_b, "B")]
    for s in sides:
        s.start(bp)
    res = LockstepResult(sides[0].trace, sides[1].trace)
    res.regions = [r.describe() for r in dev_a.map.regions]
    res.uarts = [
        f"UART{i} ({u.device}, data register at "
        + ", ".join(f"0x{a:08x}" for a in u.data_addrs)
        + ")"
        for i, u in enumerate(dev_a.map.uarts)
    ]
    res.a.end = res.b.end = "running"
    fine = True
    for s in sides:
        s.dev.resume(None)
    try:
        while True:
            events = [_wait(s, bp, timeout_s) for s in sides]
            new = [s.collect_output() for s in sides]
            frame = _frame_in_progress(sides[0])
            ea, eb = events
            if fine and new[0] != new[1]:
                _first(res, "output", frame, _output_difference(res, sides, frame))
                fine = _go_coarse(sides)
            if fine and ea.kind == eb.kind == "byte" and ea.channel == eb.channel:
                for s, e in zip(sides, events, strict=True):
                    s.trace.byte_icounts[e.channel].append(e.icount)
            if fine and (ea.kind, ea.channel, ea.icount) != (eb.kind, eb.channel, eb.icount):
                same_event = (ea.kind, ea.channel) == (eb.kind, eb.channel)
                if same_event:
                    res.timing_differences += 1
                else:
                    res.output_differences += 1
                _first(
                    res,
                    "timing" if same_event else "output",
                    frame,
                    f"{_while(frame)}: run A stopped at {ea.describe()}, run B at {eb.describe()}",
                )
                fine = _go_coarse(sides)
            if fine and ea.kind == "byte":
                res.byte_events_compared += 1
                for s in sides:
                    s.dev.resume(s.stop, s.pc)
                continue
            if not fine:
                # Compared at checkpoints only from here: run each to its next one.
                events = [_advance(s, e, bp, timeout_s) for s, e in zip(sides, events, strict=True)]
                for s in sides:
                    s.collect_output()
                ea, eb = events
            if ea.kind == "checkpoint" and eb.kind == "checkpoint":
                if not fine:
                    _compare_segments(res, sides, frame)
                if ea.icount != eb.icount:
                    res.timing_differences += 1
                    _first(
                        res,
                        "timing",
                        frame,
                        f"{_while(frame)}: run A reached the checkpoint at "
                        f"instruction {ea.icount:,}, run B at {eb.icount:,}",
                    )
                _checkpoint(res, sides, events, frame)
                if on_checkpoint:
                    on_checkpoint(sides[0].frames_done)
                if all(s.feeder.is_last(s.stops - 1) for s in sides):
                    for s in sides:
                        s.trace.end = f"stopped at the checkpoint after {s.frames_done} frames"
                    break
                diverged = res.first_difference_frame
                if (
                    res.first_difference is not None
                    and frames_after_difference is not None
                    and sides[0].frames_done > (diverged or 0) + frames_after_difference
                ):
                    res.cut_short = sides[0].frames_done
                    for s in sides:
                        s.trace.end = (
                            f"stopped after {s.frames_done} frames: the runs differed "
                            f"{_while(diverged)}, and {frames_after_difference} more frames "
                            f"were compared"
                        )
                    break
                for s in sides:
                    s.dev.resume(s.stop, s.pc)
                continue
            # Anything else ends the comparison: an exit, a timeout, a fault.
            for s, e in zip(sides, events, strict=True):
                s.trace.end = e.describe()
            if (ea.kind, ea.detail, ea.icount) != (eb.kind, eb.detail, eb.icount):
                _first(
                    res,
                    "output" if (ea.kind, ea.detail) != (eb.kind, eb.detail) else "timing",
                    frame,
                    f"{_while(frame)}: run A ended with {ea.describe()}, "
                    f"run B with {eb.describe()}",
                )
            elif ea.kind != "exit":
                res.error = f"both runs stopped with {ea.describe()}"
            if not fine:
                _compare_segments(res, sides, frame)
            else:
                new = [s.collect_output() for s in sides]
                if new[0] != new[1]:
                    _first(res, "output", frame, _output_difference(res, sides, frame))
            break
    finally:
        res.wall_s = time.monotonic() - t_start
    if res.a.outputs != res.b.outputs and res.output_differences == 0:
        res.output_differences = 1
        _first(res, "output", None, "the runs' outputs differ")
    return res


def _wait(side: _Side, bp: int, timeout_s: float) -> Event:
    try:
        side.stop = side.dev.wait_stop(timeout_s)
    except TimeoutError:
        side.stop = Stop("other", raw=b"timeout")
        return Event("timeout", None, detail=f"no event within {timeout_s} s")
    return side.event(bp)


def _frame_in_progress(side: _Side) -> int | None:
    """The frame the device was processing (None: booting, before the first frame)."""
    return None if side.feeder.boot_phase(side.stops) else side.frames_done


def _while(frame: int | None) -> str:
    return (
        "at boot, before the first frame" if frame is None else f"while frame {frame} was processed"
    )


def _compare_segments(res: LockstepResult, sides, frame: int | None) -> None:
    """Checkpoint-only comparison: the bytes each UART sent since the last checkpoint."""
    a, b = sides[0].trace, sides[1].trace
    prev_a = a.cuts[-1] if a.cuts else [0] * len(a.outputs)
    prev_b = b.cuts[-1] if b.cuts else [0] * len(b.outputs)
    for c in range(len(a.outputs)):
        if a.outputs[c][prev_a[c] :] != b.outputs[c][prev_b[c] :]:
            res.output_differences += 1
            _first(res, "output", frame, f"{_while(frame)}: UART{c} sent different bytes")
            return


def _first(res: LockstepResult, kind: str, frame: int | None, text: str) -> None:
    res.firsts.setdefault(kind, text)
    res.first_frames.setdefault(kind, frame)
    if res.first_difference is None:
        res.first_difference = text
        res.first_difference_frame = frame


def _go_coarse(sides) -> bool:
    """Stop watching bytes (their timing has diverged): compare at checkpoints only."""
    for s in sides:
        if not s.ended:
            s.dev.link.clear_watchpoints()
    return False


def _advance(side: _Side, event: Event, bp: int, timeout_s: float) -> Event:
    """Continue ``side`` past bytes and unknown stops until a checkpoint, an exit or a
    timeout (used once the runs are compared at checkpoints only)."""
    while event.kind in ("byte", "other") and not side.ended:
        side.dev.resume(side.stop, side.pc)
        try:
            side.stop = side.dev.wait_stop(timeout_s)
        except TimeoutError:
            return Event("timeout", None, detail=f"no event within {timeout_s} s")
        event = side.event(bp)
    return event


def _output_difference(res: LockstepResult, sides, frame: int | None) -> str:
    res.output_differences += 1
    for c in range(len(sides[0].trace.outputs)):
        a, b = sides[0].trace.outputs[c], sides[1].trace.outputs[c]
        if a == b:
            continue
        k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        when = ""
        ic = sides[0].trace.byte_icounts[c]
        if k < len(ic):
            when = f" (written at instruction {ic[k]:,} in run A)"
        if k < min(len(a), len(b)):
            what = f"byte {k} is 0x{a[k]:02x} in run A and 0x{b[k]:02x} in run B"
        else:
            what = f"run A has sent {len(a)} bytes, run B {len(b)}"
        return f"{_while(frame)}: UART{c} {what}{when}"
    return f"{_while(frame)}: the outputs differ"


def _checkpoint(res: LockstepResult, sides, events: list[Event], frame_before: int | None) -> None:
    t0 = time.monotonic()
    # Read-only blocks cannot change: compared at the first and the last checkpoint.
    rom = res.checkpoints_compared == 0 or all(s.feeder.is_final_checkpoint(s.stops) for s in sides)
    for s, e in zip(sides, events, strict=True):
        s.trace.checkpoints.append((s.stops, e.icount))  # provisional frames-done below
        s.trace.cuts.append([len(o) for o in s.trace.outputs])
    # Both QEMUs dump their memory at once (the work is theirs; the host mostly waits).
    with ThreadPoolExecutor(max_workers=2) as pool:
        sa, sb = pool.map(lambda side: side.dev.snapshot(rom=rom), sides)
    ranges: list[tuple[str, int, int, int]] = []
    kept: list[tuple[str, int, bytes, bytes]] = []
    total = 0
    budget = KEEP_BYTES
    for r in sides[0].dev.map.regions:
        if r.name not in sa.regions or r.name not in sb.regions:
            continue  # a read-only block between the first and the last checkpoint
        a, b = sa.regions[r.name], sb.regions[r.name]
        spans = [(0, r.size)]
        if sa.main_extents is not None and r.via == "backend":
            spans = _union(sa.main_extents, sb.main_extents or [])
        for lo, hi in spans:
            res.memory_bytes_compared += hi - lo
            if np.array_equal(a[lo:hi], b[lo:hi]):
                continue
            idx = np.flatnonzero(a[lo:hi] != b[lo:hi]) + lo
            total += idx.size
            for start, end, count in _group(idx):
                ranges.append((r.name, r.addr + start, r.addr + end, count))
                if budget > 0 and len(res.memory) < KEEP_CHECKPOINTS:
                    n = min(end - start + 1, budget)
                    kept.append(
                        (
                            r.name,
                            r.addr + start,
                            bytes(a[start : start + n]),
                            bytes(b[start : start + n]),
                        )
                    )
                    budget -= n
    regs = sorted(
        k
        for k in set(sa.registers) | set(sb.registers)
        if sa.registers.get(k) != sb.registers.get(k)
    )
    frames_done = []
    for s in sides:
        done = s.feeder.at_checkpoint(s.dev.link, s.stops)
        s.stops += 1
        s.frames_done = done
        s.trace.checkpoints[-1] = (done, s.trace.checkpoints[-1][1])
        frames_done.append(done)
    res.checkpoints_compared += 1
    if ranges or regs:
        res.memory.append(MemoryDiff(frames_done[0], ranges, regs, total, kept))
        _first(res, "memory", frame_before, _memory_text(frames_done[0], ranges, regs, total))
    res.snapshot_s += time.monotonic() - t0


def _memory_text(done: int, ranges, regs, total: int) -> str:
    where = "; ".join(f"{n} 0x{a:08x}..0x{b:08x} ({c} bytes)" for n, a, b, c in ranges[:3])
    more = f" and {len(ranges) - 3} more ranges" if len(ranges) > 3 else ""
    reg = f"; registers {', '.join(regs)}" if regs else ""
    when = f"after frame {done - 1} (its wipe done)" if done else "before the first frame"
    return f"{when}: {total} bytes of memory differ{': ' + where if where else ''}{more}{reg}"


def _group(idx: np.ndarray) -> list[tuple[int, int, int]]:
    """Sorted differing offsets -> [(first, last, count)] with gaps <= RANGE_GAP merged."""
    if idx.size == 0:
        return []
    brk = np.flatnonzero(np.diff(idx) > RANGE_GAP)
    starts = np.concatenate(([0], brk + 1))
    ends = np.concatenate((brk, [idx.size - 1]))
    return [(int(idx[s]), int(idx[e]), int(e - s + 1)) for s, e in zip(starts, ends, strict=True)]


def _union(x: list[tuple[int, int]], y: list[tuple[int, int]]) -> list[tuple[int, int]]:
    spans = sorted(x + y)
    out: list[tuple[int, int]] = []
    for lo, hi in spans:
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out
