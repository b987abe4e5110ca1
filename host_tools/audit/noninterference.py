"""The audit's verdict: noninterference modulo the declared decisions, and the decisions
against the reference.

Runs A and B (see :mod:`host_tools.noninterference.lockstep`) were shown frame sequences
that differ in pixels but have the same reference decision at every position. So a
device whose observable behaviour depends on its frames only through its decisions
shows the observer exactly the same thing in both runs:

``noninterference_output``  every byte on every UART, per frame
``noninterference_timing``  the instruction count at every byte write and checkpoint
``noninterference_memory``  every register and every byte of every RAM block of the
                            board (sensor window and writable code region included) after
                            each frame's wipe and at the end
``reference_decisions``     every DECISION of both runs equals the reference decision
                            (LiteRT BUILTIN_REF on the project's preprocessing, through
                            the build's decision rule) of the frame shown there

Any difference is a finding whatever its encoding: a copy, an XOR of a copy, a delay, a
reserved bit; the content diagnostics (:mod:`.diagnostics`) then say what it is.
"""

from __future__ import annotations

import numpy as np

from ..protocol import Decision, Garbage, parse_capture_spans
from .report import CheckResult, Findings


def check_output(lock) -> CheckResult:
    f = Findings()
    a, b = lock.a, lock.b
    sent = [len(x) for x in a.outputs]
    for c, (xa, xb) in enumerate(zip(a.outputs, b.outputs, strict=True)):
        if xa == xb:
            continue
        k = next((i for i, (p, q) in enumerate(zip(xa, xb)) if p != q), min(len(xa), len(xb)))
        frame = a.frame_of(c, k)
        where = "at boot" if frame is None else f"during frame {frame}"
        if k < min(len(xa), len(xb)):
            f.add(f"UART{c} byte {k} ({where}): 0x{xa[k]:02x} in run A, 0x{xb[k]:02x} in run B")
        else:
            f.add(f"UART{c} ({where}): run A sent {len(xa)} bytes, run B {len(xb)}")
        frames = _frames_differing(a, b, c)
        if frames:
            f.add(f"UART{c}: the output differs in {len(frames)} frames: {_list(frames)}")
    if lock.error:
        f.add(f"the runs could not be compared to their end: {lock.error}")
    used = [f"UART{c}: {n} bytes" for c, n in enumerate(sent) if n]
    detail = f"{len(sent)} UARTs watched ({', '.join(used) or 'nothing sent'}); " + (
        "identical in both runs" if not f else "outputs differ"
    )
    return f.result("noninterference_output", not f, detail)


def check_timing(lock) -> CheckResult:
    f = Findings()
    a, b = lock.a, lock.b
    for c, (ia, ib) in enumerate(zip(a.byte_icounts, b.byte_icounts, strict=True)):
        for k, (x, y) in enumerate(zip(ia, ib)):
            if x != y:
                frame = a.frame_of(c, k)
                where = "at boot" if frame is None else f"during frame {frame}"
                f.add(
                    f"UART{c} byte {k} ({where}) written at instruction {x:,} in run A, "
                    f"{y:,} in run B ({y - x:+,})"
                )
                break
    for k, ((da, ca), (db, cb)) in enumerate(zip(a.checkpoints, b.checkpoints)):
        if ca != cb:
            f.add(
                f"checkpoint {k} (after {da} frames): instruction {ca:,} in run A, "
                f"{cb:,} in run B ({cb - ca:+,})"
            )
    first = lock.firsts.get("timing")
    if first and not f:
        f.add(first)
    n_cp = min(len(a.checkpoints), len(b.checkpoints))
    detail = (
        f"instruction count (QEMU -icount, instructions not cycles) compared at "
        f"{lock.byte_events_compared} byte writes and {n_cp} checkpoints: "
        + ("identical" if not f else "differs")
    )
    if first:
        detail += f"; first difference: {first}"
    return f.result("noninterference_timing", not f, detail)


def check_memory(lock) -> CheckResult:
    f = Findings()
    for m in lock.memory:
        when = f"after frame {m.frames_done - 1}" if m.frames_done else "before the first frame"
        for name, lo, hi, count in m.ranges[:4]:
            f.add(f"{when}: {name} 0x{lo:08x}..0x{hi:08x}: {count} bytes differ")
        if len(m.ranges) > 4:
            f.add(f"{when}: and {len(m.ranges) - 4} more ranges ({m.bytes_differing} bytes in all)")
        if m.registers:
            f.add(f"{when}: registers differ: {', '.join(m.registers)}")
    mib = lock.memory_bytes_compared / (1 << 20)
    detail = (
        f"{lock.checkpoints_compared} checkpoints (after each frame's wipe and at the end), "
        f"{mib:,.0f} MiB compared in all over {len(lock.regions)} RAM blocks "
        f"({'; '.join(lock.regions)}) and every CPU register: "
        + ("identical" if not lock.memory else f"differs at {len(lock.memory)} checkpoints")
    )
    return f.result("noninterference_memory", not lock.memory, detail)


def device_decisions(capture: bytes) -> tuple[dict[int, bool], list[str]]:
    """{seq: person} of every valid DECISION in a capture, and problems (duplicates)."""
    out: dict[int, bool] = {}
    problems = []
    for span in parse_capture_spans(capture):
        r = span.item
        if isinstance(r, Decision):
            if r.seq in out:
                problems.append(f"offset {span.offset}: a second DECISION for frame {r.seq}")
            out[r.seq] = bool(r.person)
        elif isinstance(r, Garbage):
            continue
    return out, problems


def check_reference(
    capture_a: bytes,
    capture_b: bytes,
    decisions_a: np.ndarray,
    decisions_b: np.ndarray,
    order: np.ndarray,
    policy_per_frame: bool = True,
    note: str = "",
) -> CheckResult:
    """Every DECISION of both runs equals the reference decision of the frame shown at
    that position; a frame without a DECISION (per-frame policy) is a mismatch too."""
    f = Findings()
    n = len(decisions_a)
    agree = 0
    for label, capture, ref, frame_of in (
        ("A", capture_a, decisions_a, lambda i: i),
        ("B", capture_b, decisions_b, lambda i: int(order[i])),
    ):
        got, problems = device_decisions(capture)
        for p in problems:
            f.add(f"run {label}: {p}")
        for seq in sorted(s for s in got if s >= n):
            f.add(f"run {label}: DECISION for frame {seq}, but only {n} frames were shown")
        if policy_per_frame:
            for i in range(n):
                if i not in got:
                    f.add(f"run {label}: no DECISION for position {i} (frame {frame_of(i)})")
                elif got[i] != bool(ref[i]):
                    f.add(
                        f"run {label}: position {i} (frame {frame_of(i)}): the device says "
                        f"{_word(got[i])}, the reference {_word(ref[i])}"
                    )
                elif label == "A":
                    agree += 1
        else:
            # Event-only: the device sends frame 0 and every change of the reference
            # decision; nothing else.
            want = {0: bool(ref[0])} if n else {}
            want.update({i: bool(ref[i]) for i in range(1, n) if ref[i] != ref[i - 1]})
            for i in sorted(set(want) | {x for x in got if x < n}):
                if got.get(i) != want.get(i):
                    f.add(
                        f"run {label}: position {i}: DECISION {_maybe(got.get(i))}, the "
                        f"reference wants {_maybe(want.get(i))}"
                    )
                elif label == "A":
                    agree += 1
    total = n if policy_per_frame else len(got)
    detail = (
        f"decisions equal to the reference on {agree}/{total} frames of run A"
        + (" and every frame of run B" if not f else "")
        + (f"; {note}" if note else "")
    )
    return f.result("reference_decisions", not f, detail)


def statement(report_checks: list[CheckResult], lock, n_frames: int) -> str:
    """The audit's result in plain words."""
    by = {c.name: c for c in report_checks}
    ni = [
        by.get(k)
        for k in ("noninterference_output", "noninterference_timing", "noninterference_memory")
    ]
    ref = by.get("reference_decisions")
    out_bytes = sum(len(x) for x in lock.a.outputs)
    mib = lock.memory_bytes_compared / (1 << 20)
    if all(c is not None and c.passed for c in ni):
        head = f"observable beyond the declared decisions: nothing, over 2 x {n_frames:,} frames"
    else:
        failed = [c.name.split("_", 1)[1] for c in ni if c is not None and not c.passed]
        head = (
            f"observable beyond the declared decisions: the device's {', '.join(failed)} "
            f"depend on the pixels (over 2 x {n_frames:,} frames)"
        )
    if ref is None or ref.skipped:
        refs = "decisions not compared with the reference"
    else:
        refs = ref.detail.split(";")[0]
    return (
        f"{head}; {refs} (compared: {out_bytes:,} output bytes, the instruction count "
        f"at {lock.byte_events_compared:,} byte writes and {lock.checkpoints_compared:,} "
        f"checkpoints, {mib:,.0f} MiB of memory)"
    )


def _word(person) -> str:
    return "person" if person else "no person"


def _maybe(person) -> str:
    return "none" if person is None else _word(person)


def _frames_differing(a, b, channel: int) -> list:
    """Frames (``"boot"`` for what precedes the first) whose output on ``channel``
    differs between the runs, from the output cut at each checkpoint."""
    out: list = []
    prev_a = prev_b = 0
    frame = "boot" if a.boot_frame is None else a.boot_frame
    for (done, _), cut_a, cut_b in zip(a.checkpoints, a.cuts, b.cuts):
        if (
            a.outputs[channel][prev_a : cut_a[channel]]
            != b.outputs[channel][prev_b : cut_b[channel]]
        ):
            out.append(frame)
        prev_a, prev_b = cut_a[channel], cut_b[channel]
        frame = done
    if a.outputs[channel][prev_a:] != b.outputs[channel][prev_b:]:
        out.append("after the last checkpoint")
    return out


def _list(items: list, k: int = 8) -> str:
    shown = ", ".join(str(x) for x in items[:k])
    return shown + (f" ... ({len(items)} in all)" if len(items) > k else "")
