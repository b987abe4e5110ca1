"""Check 1a, ``grammar``: every byte of the capture belongs to a valid declared record,
the records come in the order docs/PROTOCOL.md allows, and the HELLO states the build
manifest the device is held to."""

from __future__ import annotations

from ..protocol import (
    BUILD_PRODUCTION,
    POLICY_PER_FRAME,
    RECORD_NAMES,
    Bye,
    Decision,
    Garbage,
    Hello,
    Span,
    Stats,
)
from .report import CheckResult, Findings

BUILD_NAMES = {"production": 0, "prod": 0, "hil": 1}
POLICY_NAMES = {"per_frame": 0, "per-frame": 0, "event_only": 1, "event-only": 1, "event": 1}


def as_code(value: object, names: dict[str, int]) -> object:
    if isinstance(value, str) and value.lower() in names:
        return names[value.lower()]
    return value


def manifest_mismatches(hello: Hello, manifest: dict) -> tuple[list[str], list[str]]:
    """(mismatch messages, manifest keys not compared) between a HELLO and a manifest
    whose keys among proto_version, build_kind, policy, leak_budget_bits, fw_version,
    board, model_sha256 (hex) and decision_rule (host_tools/decision_rule.py's manifest
    form) the HELLO must repeat."""
    bad: list[str] = []
    ignored: list[str] = []
    for key, want in manifest.items():
        if key == "decision_rule":
            bad += _rule_mismatches(hello, want)
        elif key == "model_sha256":
            want_hex = want.hex() if isinstance(want, (bytes, bytearray)) else str(want)
            if want_hex.lower() != hello.model_sha256.hex():
                bad.append(
                    f"model_sha256: HELLO says {hello.model_sha256.hex()}, "
                    f"manifest says {want_hex.lower()}"
                )
        elif key in ("fw_version", "board"):
            got = getattr(hello, key)
            if got != str(want):
                bad.append(f"{key}: HELLO says {got!r}, manifest says {want!r}")
        elif key in ("proto_version", "build_kind", "policy", "leak_budget_bits"):
            if key == "build_kind":
                want = as_code(want, BUILD_NAMES)
            elif key == "policy":
                want = as_code(want, POLICY_NAMES)
            got = getattr(hello, key)
            if got != want:
                bad.append(f"{key}: HELLO says {got}, manifest says {want!r}")
        else:
            ignored.append(key)
    return bad, ignored


def _rule_mismatches(hello: Hello, want: dict | None) -> list[str]:
    """The decision rule a HELLO states against the manifest's (argmax when it has none)."""
    from ..decision_rule import DecisionRule

    try:
        stated = DecisionRule.from_hello(hello)
    except ValueError as exc:
        return [f"decision_rule: HELLO states no valid rule ({exc})"]
    expected = DecisionRule.from_manifest({"decision_rule": want})
    if stated == expected:
        return []
    return [f"decision_rule: HELLO says {stated.describe()}, manifest says {expected.describe()}"]


def coalesce_garbage(spans: list[Span]) -> list[tuple[int, int, str, int]]:
    """Adjacent garbage spans merged: (offset, length, first reason, span count)."""
    out: list[list] = []
    for span in spans:
        if not isinstance(span.item, Garbage):
            continue
        if out and out[-1][0] + out[-1][1] == span.offset:
            out[-1][1] += span.length
            out[-1][3] += 1
        else:
            out.append([span.offset, span.length, span.item.reason, 1])
    return [tuple(g) for g in out]


def check_grammar(spans: list[Span], capture_len: int, manifest: dict | None) -> CheckResult:
    f = Findings()
    garbage_bytes = 0
    for offset, length, reason, count in coalesce_garbage(spans):
        garbage_bytes += length
        extra = f" (and {count - 1} more spans)" if count > 1 else ""
        f.add(f"offset {offset}: {length} bytes not part of any valid frame: {reason}{extra}")

    record_spans = [s for s in spans if not isinstance(s.item, Garbage)]
    records = [(s.offset, s.item) for s in record_spans]
    hellos = [(o, r) for o, r in records if isinstance(r, Hello)]
    hello = hellos[0][1] if hellos else None
    counts = {name: 0 for name in RECORD_NAMES.values()}
    for _, r in records:
        counts[RECORD_NAMES[r.TYPE]] += 1

    if not records:
        f.add("offset 0: no valid record in the capture")
    elif not isinstance(records[0][1], Hello):
        first_off, first = records[0]
        f.add(
            f"offset {first_off}: first record is {RECORD_NAMES[first.TYPE]}; the stream must "
            f"start with HELLO"
        )
    elif records[0][0] != 0:
        f.add(f"offset {records[0][0]}: HELLO is not at the start of the stream")
    for off, _ in hellos[1:]:
        f.add(f"offset {off}: extra HELLO (exactly one is allowed; a device reset?)")

    per_frame = hello is None or hello.policy == POLICY_PER_FRAME
    next_seq = 0
    last_seq = -1
    n_decisions = 0
    stats_seen = bye_end = None
    for span in record_spans:
        off, r = span.offset, span.item
        name = RECORD_NAMES[r.TYPE]
        if bye_end is not None:
            break
        if isinstance(r, Decision):
            n_decisions += 1
            if stats_seen is not None:
                f.add(f"offset {off}: DECISION seq {r.seq} after STATS")
            if per_frame and r.seq != next_seq:
                f.add(f"offset {off}: DECISION seq {r.seq}, want {next_seq} (consecutive from 0)")
            elif not per_frame and r.seq <= last_seq:
                f.add(f"offset {off}: DECISION seq {r.seq} not above previous {last_seq}")
            next_seq = r.seq + 1
            last_seq = r.seq
        elif isinstance(r, (Stats, Bye)):
            if hello is not None and hello.build_kind == BUILD_PRODUCTION:
                f.add(f"offset {off}: {name} in a production build (HIL builds only)")
            if isinstance(r, Stats):
                if stats_seen is not None:
                    f.add(f"offset {off}: second STATS (first at offset {stats_seen})")
                stats_seen = off
            if r.frames != n_decisions:
                f.add(f"offset {off}: {name} frames={r.frames} but {n_decisions} DECISIONs sent")
            if isinstance(r, Stats) and r.insn_min > r.insn_max:
                f.add(f"offset {off}: STATS insn_min {r.insn_min} > insn_max {r.insn_max}")
            if isinstance(r, Bye):
                bye_end = span.end
    if bye_end is not None and bye_end < capture_len:
        f.add(f"offset {bye_end}: {capture_len - bye_end} bytes after BYE (nothing may follow)")

    detail_parts = [
        ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no records",
        f"{garbage_bytes} bytes outside valid frames",
    ]
    if manifest is not None:
        if hello is None:
            f.add("offset 0: no HELLO to compare with the manifest")
        else:
            bad, ignored = manifest_mismatches(hello, manifest)
            hello_off = hellos[0][0]
            for msg in bad:
                f.add(f"offset {hello_off}: HELLO disagrees with the manifest: {msg}")
            compared = len(manifest) - len(ignored)
            note = f"HELLO checked against {compared} manifest fields"
            if ignored:
                note += f" (not compared: {', '.join(sorted(ignored))})"
            detail_parts.append(note)
    return f.result("grammar", not f, "; ".join(detail_parts))
