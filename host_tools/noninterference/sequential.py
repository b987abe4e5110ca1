"""The noninterference audit of a real board: the same definition as on the emulator,
with what a lab can observe of one board, one run after the other.

- **Output**: every byte of the board's serial port (the one the rig names), runs A and
  B compared byte for byte and frame by frame.
- **Timing**: when each DECISION arrives at the host (host timestamps: a USB-serial link
  jitters by a millisecond or so, so the runs must agree within ``timing_bound_s``,
  which the report states), and, where the rig names a cycle counter (``cycle_counter``:
  Cortex-M DWT_CYCCNT at 0xE0001004), its value at every checkpoint, compared exactly.
- **Memory**: over the rig's gdbserver (pyOCD, OpenOCD; QEMU's gdbstub is the stand-in
  the tests use), every RAM region the rig lists and the whole frame-bank window, at the
  checkpoint after every frame's wipe, compared between the runs at the same frame.
- **Decisions**: against the reference when the model is given; otherwise run B is
  paired by run A's own decisions and the reference check is skipped (the audit is then
  incomplete).

A real board is fed through a frame bank (a HIL image); :func:`check_image_equivalence`
then proves the shipped ELF equals the audited one except for a declared list of
objects (the test input path).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

from ..audit import AuditReport, CheckResult, Findings, skipped
from ..audit.noninterference import check_reference
from ..audit.stream import frame_segments
from ..checkpoints import elf_headers
from ..frame_bank import FORMAT_GRAY8, FORMAT_RGB888, HEADER_SIZE
from ..protocol import POLICY_PER_FRAME, Decision, Hello, parse_capture, parse_capture_spans
from .frames import camera_canaries, rotation_order, select_frames

#: Host-timestamp tolerance for DECISION arrival gaps on a real serial link (seconds).
DEFAULT_TIMING_BOUND_S = 0.005


def audit_sequential(target, cfg, manifest: dict | None, shape) -> AuditReport:
    """Runs A and B on ``target`` (a :class:`host_tools.hil_audit.SerialTarget`), one
    after the other; ``cfg`` is a :class:`host_tools.hil_audit.AuditConfig`."""
    from ..decision_rule import DecisionRule

    t_start = time.monotonic()
    h, w, c = shape
    pixfmt = FORMAT_GRAY8 if c == 1 else FORMAT_RGB888
    n = cfg.frames
    rule = DecisionRule.from_manifest(manifest)
    chosen = None
    model_sha = None
    if cfg.model is not None:
        model_sha = hashlib.sha256(Path(cfg.model).read_bytes()).hexdigest()
        chosen = select_frames(n, w, h, pixfmt, shape, cfg.model, rule, cfg.seed)
        frames = chosen.frames
    else:
        frames, _ = camera_canaries(range(n), w, h, pixfmt, cfg.seed)
    timeout_s = cfg.timeout_s or 30.0 + 2.0 * n
    run_a = target.run(frames.data, ram=True, timeout_s=timeout_s, label="run_a")
    if chosen is not None:
        order = chosen.order
    else:
        labels = [r.person for r in run_a.records if isinstance(r, Decision)]
        labels += [False] * (n - len(labels))
        order = rotation_order(labels[:n], cfg.seed)
    frames_b = frames.data[order]
    run_b = target.run(frames_b, ram=True, timeout_s=timeout_s, label="run_b")

    hello = next((r for r in parse_capture(run_a.capture) if isinstance(r, Hello)), None)
    checks = [
        _protocol(run_a, run_b, manifest, model_sha, n),
        _output(run_a, run_b),
        _timing(run_a, run_b, cfg.timing_bound_s),
        _memory(
            run_a, run_b, target.can_read_ram, target.ram_unavailable_reason(), frames.frame_bytes
        ),
    ]
    if chosen is not None:
        per_frame = hello is None or hello.policy == POLICY_PER_FRAME
        checks.append(
            check_reference(
                run_a.capture,
                run_b.capture,
                chosen.decisions_a,
                chosen.decisions_b,
                order,
                per_frame,
            )
        )
    else:
        checks.append(
            skipped(
                "reference_decisions",
                "no model given (--model): run B was paired by run A's own "
                "decisions and no decision was compared with the reference",
            )
        )
    checks.append(check_image_equivalence(target.elf, cfg.production_elf, cfg.declared_objects))
    wall = time.monotonic() - t_start
    meta = {
        "statement": _statement(checks, n),
        "target": target.name,
        "board": target.board,
        "frames": n,
        "seed": cfg.seed,
        "hello": None
        if hello is None
        else {
            "board": hello.board,
            "build_kind": hello.build_kind,
            "model_sha256": hello.model_sha256.hex(),
        },
        "run_a": {"error": run_a.error, "ram": run_a.ram_note, "wall_s": round(run_a.wall_s, 3)},
        "run_b": {"error": run_b.error, "ram": run_b.ram_note, "wall_s": round(run_b.wall_s, 3)},
        "timing_bound_s": cfg.timing_bound_s,
        "wall_s": round(wall, 3),
        "frames_per_minute": round(60.0 * n / wall, 1) if wall > 0 else None,
    }
    return AuditReport.of(checks, capture_bytes=len(run_a.capture), frames=n, meta=meta)


def _protocol(run_a, run_b, manifest, model_sha, n) -> CheckResult:
    from ..audit.grammar import check_grammar
    from ..hil_audit import hello_manifest

    want = hello_manifest(manifest) or {}
    if model_sha:
        want["model_sha256"] = model_sha
    f = Findings()
    details = []
    for label, run in (("A", run_a), ("B", run_b)):
        r = check_grammar(parse_capture_spans(run.capture), len(run.capture), want or None)
        details.append(r.detail)
        for finding in r.findings:
            f.add(f"run {label}: {finding}")
        if run.error:
            f.add(f"run {label} ended early: {run.error}")
    return f.result("protocol", not f, f"run A: {details[0]}; {n} frames shown")


def _output(run_a, run_b) -> CheckResult:
    f = Findings()
    a, b = run_a.capture, run_b.capture
    if a != b:
        seg_a = frame_segments(parse_capture_spans(a))
        seg_b = frame_segments(parse_capture_spans(b))
        k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        frame = next((i for i, (s, e) in enumerate(seg_a) if k < e), None)
        where = "at boot" if frame is None and not seg_a else f"frame {frame}"
        what = (
            f"0x{a[k]:02x} in run A, 0x{b[k]:02x} in run B"
            if k < min(len(a), len(b))
            else f"run A sent {len(a)} bytes, run B {len(b)}"
        )
        f.add(f"serial byte {k} ({where}): {what}")
        differ = [
            i
            for i, (sa, sb) in enumerate(zip(seg_a, seg_b))
            if a[sa[0] : sa[1]] != b[sb[0] : sb[1]]
        ]
        if differ:
            f.add(f"the output differs in {len(differ)} frames: {differ[:8]}")
    for label, run in (("A", run_a), ("B", run_b)):
        if run.error:
            f.add(f"run {label} could not be read to its end: {run.error}")
    detail = f"serial output, {len(a)} bytes in run A: " + ("identical" if not f else "differs")
    return f.result("noninterference_output", not f, detail)


def _arrival(arrivals: list[tuple[int, float]], offset: int) -> float | None:
    for length, t in arrivals:
        if length > offset:
            return t
    return None


def _latencies(run) -> list[float | None]:
    """Per frame, the host time from the moment the core was let go for that frame to the
    arrival of its DECISION's last byte: from the previous checkpoint's resume where the
    debugger held the core there (its hold time excluded), else from the previous
    DECISION's arrival."""
    ends = [s.end for s in parse_capture_spans(run.capture) if isinstance(s.item, Decision)]
    times = [_arrival(run.arrivals, e - 1) for e in ends]
    out: list[float | None] = []
    for k, t in enumerate(times):
        start = run.resumed_at.get(k - 1) if run.resumed_at else (times[k - 1] if k else None)
        out.append(None if t is None or start is None else t - start)
    return out


def _timing(run_a, run_b, bound_s: float) -> CheckResult:
    f = Findings()
    worst = 0.0
    compared = 0
    for i, (la, lb) in enumerate(zip(_latencies(run_a), _latencies(run_b))):
        if la is None or lb is None:
            continue
        compared += 1
        d = abs(la - lb)
        worst = max(worst, d)
        if d > bound_s:
            f.add(
                f"frame {i}: its DECISION came {la * 1e3:.2f} ms after the core was let go in "
                f"run A, {lb * 1e3:.2f} ms in run B (bound {bound_s * 1e3:.1f} ms)"
            )
    cycles = 0
    for sa, sb in zip(run_a.snapshots, run_b.snapshots):
        if sa.cycles is None or sb.cycles is None:
            continue
        cycles += 1
        if sa.cycles != sb.cycles:
            f.add(
                f"after frame {sa.seq}: cycle counter {sa.cycles:,} in run A, {sb.cycles:,} "
                f"in run B"
            )
    detail = (
        f"{compared} DECISION latencies (host timestamps) within {bound_s * 1e3:.1f} ms, "
        f"worst difference {worst * 1e3:.2f} ms; cycle counter compared at {cycles} "
        f"checkpoints"
    )
    return f.result("noninterference_timing", not f, detail)


def _memory(run_a, run_b, can_read: bool, why_not: str, frame_bytes: int) -> CheckResult:
    if not can_read:
        return skipped("noninterference_memory", why_not)
    f = Findings()
    by_b = {s.seq: s for s in run_b.snapshots}
    compared = 0
    for sa in run_a.snapshots:
        sb = by_b.get(sa.seq)
        if sb is None:
            f.add(f"after frame {sa.seq}: no snapshot in run B")
            continue
        regions_b = {(r.name, r.addr): r.data for r in sb.regions}
        for r in sa.regions:
            other = regions_b.get((r.name, r.addr))
            if other is None or len(other) != len(r.data):
                f.add(f"after frame {sa.seq}: {r.name} 0x{r.addr:08x} not read alike in run B")
                continue
            data = r.data
            if r.name == "frame bank":
                # The bank was loaded whole: the slots of frames not yet shown hold the
                # frames to come (input, not a remnant). Header and shown slots must match.
                end = HEADER_SIZE + (sa.seq + 1) * frame_bytes
                data, other = data[:end], other[:end]
            compared += len(data)
            if data != other:
                x = np.frombuffer(data, np.uint8) != np.frombuffer(other, np.uint8)
                idx = np.flatnonzero(x)
                f.add(
                    f"after frame {sa.seq}: {r.name} 0x{r.addr + int(idx[0]):08x}.."
                    f"0x{r.addr + int(idx[-1]):08x}: {idx.size} bytes differ"
                )
    if not run_a.snapshots:
        f.add("no RAM snapshot was taken in run A")
    detail = f"{len(run_a.snapshots)} checkpoints, {compared} bytes compared ({run_a.ram_note})"
    return f.result("noninterference_memory", not f, detail)


def check_image_equivalence(
    audited: Path | None, production: Path | None, declared: tuple[str, ...] = ()
) -> CheckResult:
    """The audited image is the shipped one, but for ``declared`` objects: every function
    and data object (ELF symbol with a size) the two have in common must have the same
    bytes, and every symbol only one of them has must be declared (a name, or a prefix
    ending in ``*``). Needs a layout-stable build: the test-only objects linked last,
    so that nothing shared moves."""
    if audited is None or production is None:
        return skipped(
            "shipped_image",
            "not proven: give the shipped ELF (--production-elf) to compare the audited image with",
        )
    f = Findings()
    a, p = _symbol_bytes(Path(audited)), _symbol_bytes(Path(production))

    def is_declared(name: str) -> bool:
        return any(name == d or (d.endswith("*") and name.startswith(d[:-1])) for d in declared)

    same = 0
    for name in sorted(set(a) | set(p)):
        if name not in a or name not in p:
            if not is_declared(name):
                where = "audited" if name in a else "shipped"
                f.add(f"{name}: only in the {where} image, and not declared")
            continue
        if a[name] == p[name]:
            same += 1
        elif not is_declared(name):
            f.add(f"{name}: differs between the audited and the shipped image")
    detail = (
        f"{same} functions and objects byte-identical in {Path(audited).name} and "
        f"{Path(production).name}; declared test-only: {', '.join(declared) or 'none'}"
    )
    return f.result("shipped_image", not f, detail)


def _symbol_bytes(elf: Path) -> dict[str, bytes]:
    """name -> the bytes of every sized symbol in an allocated, loaded section."""
    import struct

    data = elf.read_bytes()
    secs = elf_headers(data, elf)
    out: dict[str, bytes] = {}
    for h in secs:
        if h[1] != 2:  # SHT_SYMTAB
            continue
        strtab = secs[h[6]][4]
        for off in range(h[4], h[4] + h[5], 16):
            st_name, value, size, _, _, shndx = struct.unpack_from("<IIIBBH", data, off)
            if not st_name or not size or shndx == 0 or shndx >= len(secs):
                continue
            sec = secs[shndx]
            if sec[1] != 1:  # SHT_PROGBITS only: .bss has no bytes to compare
                continue
            end = data.index(b"\x00", strtab + st_name)
            name = data[strtab + st_name : end].decode(errors="replace")
            start = sec[4] + (value & ~1) - sec[3]
            out[name] = data[start : start + size]
    return out


def _statement(checks: list[CheckResult], n: int) -> str:
    by = {c.name: c for c in checks}
    bad = [
        k.split("_", 1)[1]
        for k in ("noninterference_output", "noninterference_timing", "noninterference_memory")
        if k in by and not by[k].passed
    ]
    head = (
        "observable beyond the declared decisions: nothing"
        if not bad
        else f"observable beyond the declared decisions: the {', '.join(bad)} depend on the pixels"
    )
    ref = by.get("reference_decisions")
    refs = (
        "decisions not compared with the reference"
        if ref is None or ref.skipped
        else ref.detail.split(";")[0]
    )
    return f"{head}, over 2 x {n} frames on a real board; {refs}"
