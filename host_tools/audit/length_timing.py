"""Check 5, ``length_timing``: every frame produces the same output -- one fixed-size
DECISION and nothing else -- and the time it arrives at does not follow the pixels.

Length: the output attributed to each frame (from the end of the previous DECISION, or
the HELLO, to the end of this frame's DECISION) must be exactly one DECISION frame, and
after the last DECISION only STATS and BYE may follow.

Timing (when arrival times are given, and at least MIN_TIMED_FRAMES frames): the gap
between consecutive DECISIONs is rank-correlated (Spearman) with per-frame pixel
statistics (mean, spread, edge energy); a correlation whose z-score exceeds Z_LIMIT fails.
Host-side arrival times are coarse on an emulator (records arrive in bursts), so this is
a screen for gross pixel-dependent work, not a cycle-accurate side-channel analysis.
STATS' instruction counts (emulator only) are reported for the record.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..protocol import FRAME_SIZES, TYPE_DECISION, Bye, Garbage, Span, Stats
from .report import CheckResult, Findings
from .stream import frame_segments

MIN_TIMED_FRAMES = 20
Z_LIMIT = 5.0


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x), np.float64)
    ranks[order] = np.arange(len(x), dtype=np.float64)
    # Average ranks over ties.
    xs = x[order]
    i = 0
    while i < len(xs):
        j = i
        while j + 1 < len(xs) and xs[j + 1] == xs[i]:
            j += 1
        if j > i:
            ranks[order[i : j + 1]] = (i + j) / 2
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (0.0 when either side is constant)."""
    rx, ry = _ranks(np.asarray(x, np.float64)), _ranks(np.asarray(y, np.float64))
    rx -= rx.mean()
    ry -= ry.mean()
    den = math.sqrt(float((rx * rx).sum() * (ry * ry).sum()))
    return float((rx * ry).sum() / den) if den else 0.0


def pixel_features(frames: np.ndarray) -> dict[str, np.ndarray]:
    x = frames.reshape(len(frames), -1).astype(np.float32)
    img = frames.astype(np.float32)
    edges = np.abs(np.diff(img, axis=2)).reshape(len(frames), -1).mean(axis=1)
    return {"mean": x.mean(axis=1), "spread": x.std(axis=1), "edge energy": edges}


def time_at(arrivals: Sequence[tuple[int, float]], offset: int) -> float:
    """When the byte at capture ``offset`` arrived: the time of the first read whose
    end offset is past it. ``arrivals`` is [(capture length after the read, time)]."""
    ends = [a[0] for a in arrivals]
    i = int(np.searchsorted(ends, offset, side="right"))
    return arrivals[min(i, len(arrivals) - 1)][1]


def check_length_timing(
    spans: list[Span],
    frames: np.ndarray,
    capture_len: int,
    arrivals: Sequence[tuple[int, float]] | None = None,
    timing_run: tuple[list[Span], np.ndarray, Sequence[tuple[int, float]]] | None = None,
    timing_note: str = "",
) -> CheckResult:
    """Length from ``spans``; timing from ``arrivals`` of the same run, or from
    ``timing_run`` = (spans, frames in the order shown, arrivals) of another run of the
    same device (e.g. one that no debugger interrupted).
    ``timing_note`` says why timing is not screened when neither is given."""
    f = Findings()
    want = FRAME_SIZES[TYPE_DECISION]
    segs = frame_segments(spans)
    lengths = np.array([e - s for s, e in segs], np.int64)
    bad = np.nonzero(lengths != want)[0]
    for i in bad:
        s, e = segs[i]
        f.add(
            f"capture offset {s}..{e - 1}: frame {i} produced {lengths[i]} bytes of output, "
            f"not one {want}-byte DECISION"
        )
    # After the last DECISION: only STATS and BYE.
    tail_from = segs[-1][1] if segs else 0
    tail_extra = sum(
        s.length for s in spans if s.offset >= tail_from and not isinstance(s.item, (Stats, Bye))
    )
    if segs and tail_extra:
        f.add(
            f"capture offset {tail_from}: {tail_extra} bytes after the last DECISION that "
            f"are not STATS or BYE"
        )
    n = min(len(segs), len(frames))
    feats = pixel_features(frames[:n]) if n else {}
    parts = []
    if len(lengths):
        parts.append(
            f"{len(lengths)} frames, {lengths.min()}..{lengths.max()} bytes of output each "
            f"(want {want})"
        )
        if lengths.min() != lengths.max() and n >= 3:
            r = max((abs(spearman(lengths[:n], v)), k) for k, v in feats.items())
            parts.append(f"length follows pixel {r[1]} (|Spearman r| {r[0]:.2f})")
    else:
        parts.append("no DECISION, nothing to measure")

    # Timing.
    t_segs, t_feats, t_label = segs, feats, ""
    if timing_run is not None:
        t_spans, t_frames, arrivals = timing_run
        t_segs = frame_segments(t_spans)
        n = min(len(t_segs), len(t_frames))
        t_feats = pixel_features(t_frames[:n]) if n else {}
        t_label = " (timed on another run)"
    if arrivals and n >= MIN_TIMED_FRAMES:
        ends = [e for _, e in t_segs[:n]]
        t = np.array([time_at(arrivals, e - 1) for e in ends])
        gaps = np.diff(t)
        worst = (0.0, "", 0.0)
        for name, v in t_feats.items():
            r = spearman(gaps, v[1:])
            z = abs(r) * math.sqrt(len(gaps) - 1)
            if z > worst[0]:
                worst = (z, name, r)
        parts.append(
            f"DECISION gaps{t_label} {np.median(gaps) * 1e3:.2f} ms median, "
            f"{gaps.max() * 1e3:.2f} ms max; strongest pixel correlation: {worst[1] or '-'} "
            f"r={worst[2]:+.2f} (z {worst[0]:.1f}, limit {Z_LIMIT})"
        )
        if worst[0] > Z_LIMIT:
            f.add(
                f"timing: the gap before each DECISION follows pixel {worst[1]} "
                f"(Spearman r={worst[2]:+.2f} over {len(gaps)} gaps, z {worst[0]:.1f} > "
                f"{Z_LIMIT}): output timing depends on the pixels"
            )
    elif not arrivals:
        parts.append(f"timing not screened ({timing_note or 'no arrival times'})")
    else:
        parts.append(f"timing not screened (fewer than {MIN_TIMED_FRAMES} frames)")
    stats = next((s.item for s in spans if isinstance(s.item, Stats)), None)
    if stats is not None and stats.frames:
        mean = stats.insn_total / stats.frames
        spread = (stats.insn_max - stats.insn_min) / mean if mean else 0.0
        parts.append(
            f"STATS: {stats.insn_min}..{stats.insn_max} instructions per inference "
            f"(spread {spread:.2%}; emulator instruction counts, not cycles)"
        )
    n_garbage = sum(isinstance(s.item, Garbage) for s in spans)
    if n_garbage and not segs:
        f.add("capture offset 0: output without any DECISION to attribute it to")
    return f.result("length_timing", not f, "; ".join(parts))
