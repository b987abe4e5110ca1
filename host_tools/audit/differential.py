"""Check 3, ``differential``: frames with the same label but different pixels must give
byte-identical output.

The device is run twice. Run A shows the frames in bank order; run B shows, at each
position ``i``, another frame ``order[i]`` that got the same label in run A (the frames
of each label are rotated among themselves). Both runs show the same frames, so a clean
device -- whose output depends only on the sequence number and the label -- sends the
very same bytes, STATS included. Any difference is output that depends on pixels beyond
the label: a hidden pixel bit, a dump, a thumbnail, a length that follows the content.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..protocol import Stats, parse_capture_spans
from .report import CheckResult, Findings
from .stream import crc_good_chunks, decision_like, frame_segments


def labels_from_capture(capture: bytes) -> list[bool]:
    """The person bit (flags bit 0) of every DECISION-shaped record, in order, whether or
    not the record is otherwise valid."""
    return [bool(c.payload[4] & 1) for c in decision_like(crc_good_chunks(capture))]


def differential_order(labels: Sequence[bool], n_frames: int, seed: int = 0) -> np.ndarray:
    """Run B's frame order: ``order[i]`` is a frame with the label of frame ``i`` and,
    wherever that label has another frame, a different one. Frames past ``len(labels)``
    (no label known) stay in place."""
    order = np.arange(n_frames)
    rng = np.random.default_rng(seed)
    known = min(len(labels), n_frames)
    labels_a = np.asarray(labels[:known], bool)
    for value in (False, True):
        idx = np.nonzero(labels_a == value)[0]
        if idx.size >= 2:
            idx = rng.permutation(idx)
            order[idx] = np.roll(idx, 1)
    return order


def check_differential(
    capture_a: bytes,
    capture_b: bytes,
    frames: np.ndarray,
    order: np.ndarray,
    labels: Sequence[bool],
) -> CheckResult:
    f = Findings()
    n = len(frames)
    moved = np.nonzero(order != np.arange(n))[0]
    if moved.size:
        flat = frames.reshape(n, -1)
        differ = (flat[moved] != flat[order[moved]]).mean(axis=1)
        pixels_note = f"{differ.mean():.0%} of pixels differ on average"
    else:
        pixels_note = "no pair of frames shares a label"
    n_person = int(sum(bool(x) for x in labels))
    head = (
        f"{moved.size} of {n} positions showed another frame with the same label in run B "
        f"({pixels_note}); labels from run A: {n_person} person, "
        f"{len(labels) - n_person} no person"
    )
    if moved.size == 0:
        f.add(
            "no frame could be paired with another of the same label (every label occurs "
            "at most once), so the device was never shown same-label, different-pixel frames"
        )
        return f.result("differential", False, head)

    if capture_a == capture_b:
        return f.result(
            "differential", True, f"{head}; outputs byte-identical ({len(capture_a)} bytes)"
        )

    spans_a, spans_b = parse_capture_spans(capture_a), parse_capture_spans(capture_b)
    segs_a, segs_b = frame_segments(spans_a), frame_segments(spans_b)
    head_a = capture_a[: segs_a[0][0]] if segs_a else capture_a
    head_b = capture_b[: segs_b[0][0]] if segs_b else capture_b
    if head_a != head_b:
        f.add(
            f"capture offset 0: the output before the first DECISION differs "
            f"({len(head_a)} vs {len(head_b)} bytes)"
        )
    for i in range(min(len(segs_a), len(segs_b))):
        (sa, ea), (sb, eb) = segs_a[i], segs_b[i]
        out_a, out_b = capture_a[sa:ea], capture_b[sb:eb]
        if out_a == out_b:
            continue
        k = next(
            (j for j, (x, y) in enumerate(zip(out_a, out_b)) if x != y), min(len(out_a), len(out_b))
        )
        byte_note = (
            f"first difference at byte {k} (0x{out_a[k]:02x} vs 0x{out_b[k]:02x})"
            if k < min(len(out_a), len(out_b))
            else f"lengths {len(out_a)} vs {len(out_b)} bytes"
        )
        label = "person" if i < len(labels) and labels[i] else "no person"
        f.add(
            f"frame position {i}: frame {i} (run A, capture offset {sa}) and frame "
            f"{int(order[i])} (run B, offset {sb}) share the label '{label}' but the output "
            f"differs: {byte_note}"
        )
    if len(segs_a) != len(segs_b):
        f.add(f"run A has {len(segs_a)} DECISIONs, run B {len(segs_b)}")
    tail_a, tail_b = _tail(capture_a, spans_a, segs_a), _tail(capture_b, spans_b, segs_b)
    stats_note = ""
    if tail_a != tail_b:
        where = segs_a[-1][1] if segs_a else 0
        f.add(f"capture offset {where}: the output after the last DECISION differs")
    elif capture_a[segs_a[-1][1] if segs_a else 0 :] != capture_b[segs_b[-1][1] if segs_b else 0 :]:
        stats_note = (
            "; STATS instruction counts differ (HIL-only timing statistics, sent "
            "once per run: not compared)"
        )
    if not f:
        return f.result(
            "differential", True, f"{head}; per-frame outputs byte-identical{stats_note}"
        )
    return f.result("differential", False, f"{head}; outputs differ")


def _tail(capture: bytes, spans: list, segs: list) -> list:
    """What follows the last DECISION, with STATS reduced to its frame count."""
    start = segs[-1][1] if segs else 0
    out = []
    for sp in spans:
        if sp.offset < start:
            continue
        if isinstance(sp.item, Stats):
            out.append(("STATS", sp.item.frames))
        else:
            out.append(capture[sp.offset : sp.end])
    return out
