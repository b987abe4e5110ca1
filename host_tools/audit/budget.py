"""Check 1b, ``budget``: the information the output carries per frame stays within the
budget the device declares in its HELLO (and the manifest allows).

Two views are checked. Declared: the record schema (one person bit per DECISION under the
per-frame policy) against the HELLO's ``leak_budget_bits``, and one DECISION per frame.
Observed: what the records actually vary in -- the number of distinct flag values seen
across all DECISION-shaped records (reserved bits included, even when the parser rejected
them), records of undeclared types with a good CRC, and bytes outside any record.
"""

from __future__ import annotations

from ..protocol import (
    ACCEPTED_PAYLOAD_SIZES,
    POLICY_EVENT_ONLY,
    POLICY_PER_FRAME,
    Decision,
    Garbage,
    Hello,
    Span,
    Stats,
)
from .report import CheckResult, Findings
from .stream import Chunk, decision_like


def check_budget(
    spans: list[Span], chunks: list[Chunk], n_frames: int, manifest: dict | None
) -> CheckResult:
    f = Findings()
    records = [(s.offset, s.item) for s in spans if not isinstance(s.item, Garbage)]
    garbage_bytes = sum(s.length for s in spans if isinstance(s.item, Garbage))
    hello = next((r for _, r in records if isinstance(r, Hello)), None)
    decisions = [(o, r) for o, r in records if isinstance(r, Decision)]
    manifest_budget = None if manifest is None else manifest.get("leak_budget_bits")

    if hello is None:
        f.add("offset 0: no HELLO, so no declared budget to hold the output to")
        return f.result("budget", False, "no declared budget")

    if hello.policy != POLICY_PER_FRAME:
        name = "event-only" if hello.policy == POLICY_EVENT_ONLY else str(hello.policy)
        f.add(
            f"offset 0: HELLO policy {hello.policy} ({name}): only the per-frame policy "
            f"can be audited so far"
        )
        return f.result("budget", False, f"policy {name} not supported by the audit yet")

    bits_per_frame = 1  # the person flag; DECISION's other bits are reserved zeros
    budget = hello.leak_budget_bits
    if bits_per_frame > budget:
        f.add(
            f"offset 0: each DECISION carries {bits_per_frame} bit but HELLO declares a "
            f"budget of {budget} bits per frame"
        )
    if manifest_budget is not None and budget > manifest_budget:
        f.add(
            f"offset 0: HELLO declares {budget} bits per frame, the "
            f"manifest allows {manifest_budget}"
        )
    n_dec = len(decisions)
    if n_dec > n_frames:
        off = decisions[n_frames][0]
        f.add(
            f"offset {off}: {n_dec} DECISIONs for {n_frames} injected frames; "
            f"{n_dec - n_frames} extra from here on"
        )
    elif n_dec < n_frames:
        end = spans[-1].end if spans else 0
        f.add(
            f"offset {end}: {n_dec} DECISIONs for {n_frames} injected frames; "
            f"{n_frames - n_dec} missing"
        )

    # Observed: what the DECISION-shaped records really vary in. Each flag bit that
    # takes both values can carry one bit per frame; only bit 0 (person) is declared.
    shaped = decision_like(chunks)
    or_all = and_all = 0
    if shaped:
        and_all = 0xFF
        for c in shaped:
            or_all |= c.payload[4]
            and_all &= c.payload[4]
    varying = or_all ^ and_all
    observed_flag_bits = varying.bit_count()
    for bit in range(1, 8):
        if or_all >> bit & 1:
            users = [c for c in shaped if c.payload[4] >> bit & 1]
            f.add(
                f"offset {users[0].offset}: DECISION flags bit {bit} (reserved, must be 0) "
                f"is set in {len(users)} of {len(shaped)} records"
                + (
                    ": it carries up to 1 bit per frame beyond the person bit"
                    if varying >> bit & 1
                    else ""
                )
            )
    if observed_flag_bits > budget:
        f.add(
            f"offset {shaped[0].offset}: {observed_flag_bits} DECISION flag bits vary across "
            f"{len(shaped)} records: up to {observed_flag_bits} bits per frame observed, "
            f"{budget} declared"
        )
    # Records of a type the protocol does not declare, framed and with a good CRC.
    undeclared: dict[tuple[int, int], list[int]] = {}
    for c in chunks:
        if len(c.payload) not in ACCEPTED_PAYLOAD_SIZES.get(c.type_code, ()):
            undeclared.setdefault((c.type_code, len(c.payload)), []).append(c.offset)
    for (code, size), offsets in sorted(undeclared.items(), key=lambda kv: kv[1][0]):
        f.add(
            f"offset {offsets[0]}: {len(offsets)} well-framed records of undeclared type "
            f"0x{code:02x} with {size}-byte payloads ({8 * size} bits each)"
        )
    if garbage_bytes:
        first = next(s.offset for s in spans if isinstance(s.item, Garbage))
        f.add(
            f"offset {first}: {garbage_bytes} bytes outside valid records carry an "
            f"unbounded amount of information (see grammar)"
        )

    per_frame_extra = 8 * garbage_bytes / max(n_frames, 1)
    observed = observed_flag_bits + per_frame_extra
    detail = (
        f"per-frame policy: {n_dec} DECISIONs for {n_frames} frames, {bits_per_frame} bit "
        f"each by schema; declared {budget} bits/frame"
        + ("" if manifest_budget is None else f", manifest allows {manifest_budget}")
        + f"; observed up to {observed:.2f} bits/frame ({observed_flag_bits} varying flag bits"
        + (f", {per_frame_extra:.1f} bits/frame outside records" if garbage_bytes else "")
        + ")"
    )
    if any(isinstance(r, Stats) for _, r in records):
        detail += "; STATS (HIL only, once per run) not counted per frame"
    return f.result("budget", not f, detail)
