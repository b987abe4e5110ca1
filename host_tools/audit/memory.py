"""Check 6, ``ram_remnants``: after each inference, nothing of the frames already
processed is left in device RAM.

The device's RAM is read back at the HIL checkpoint that follows each frame's wipe
(``pk_hil_checkpoint(seq)``; see :mod:`host_tools.checkpoints`) and searched for any
``window``-byte run of frames ``0..seq``, as uint8 pixels or int8 model input (windows
that innocent RAM matches too often -- near-constant, small-valued, ramps -- are not
looked for; see :func:`host_tools.audit.canary.innocent_windows`). Frames
after ``seq`` are still waiting in the frame bank and are legitimately in RAM.

To bound the cost of long runs, a snapshot is searched for the last ``recent`` frames
only, except the final snapshot, which is searched for every frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .canary import innocent_windows, match_keys, window_keys
from .report import MAX_FINDINGS, CheckResult, Findings

DEFAULT_RECENT = 4


@dataclass(frozen=True)
class RamRegion:
    name: str
    addr: int
    data: bytes


@dataclass
class RamSnapshot:
    """RAM read back at ``pk_hil_checkpoint(seq)``, when frame ``seq`` has been wiped."""

    seq: int
    regions: list[RamRegion] = field(default_factory=list)
    cycles: int | None = None  # the board's cycle counter here, where the rig names one

    @property
    def nbytes(self) -> int:
        return sum(len(r.data) for r in self.regions)


def _frame_keys(frames: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Keys of non-constant windows of each frame, uint8 then int8; reference ids are
    ``variant * total + position``."""
    n = len(frames)
    size = frames[0].size
    flat = np.ascontiguousarray(frames).reshape(-1)
    total = flat.size
    n_win = total - w + 1
    pos = np.arange(n_win, dtype=np.int64)
    inside = (pos % size) <= size - w
    keys, refs = [], []
    for variant, data in ((0, flat), (1, flat ^ np.uint8(0x80))):
        keep = inside & ~innocent_windows(data, w, n_win, packed=False)
        keys.append(window_keys(data, w)[keep])
        refs.append(pos[keep] + variant * total)
    del n
    return np.concatenate(keys), np.concatenate(refs), total


def _search(snapshot: RamSnapshot, frames: np.ndarray, first: int, w: int) -> list[str]:
    """Findings for frames ``first..`` of ``frames`` in ``snapshot``."""
    if len(frames) == 0 or frames[0].size < w:
        return []
    size = frames[0].size
    fkeys, fref, total = _frame_keys(frames, w)
    out: list[str] = []
    for region in snapshot.regions:
        buf = np.frombuffer(region.data, np.uint8)
        if buf.size < w:
            continue
        hkeys = window_keys(buf, w)
        i_h, i_f = match_keys(hkeys, fkeys)
        if i_h.size == 0:
            continue
        mh, mf = i_h, fref[i_f]
        if w > 8:
            variant = (mf // total).astype(np.uint8) * np.uint8(0x80)
            base = mf % total
            flat = np.ascontiguousarray(frames).reshape(-1)
            ok = np.ones(mh.size, bool)
            for j in range(w):
                ok &= buf[mh + j] == (flat[base + j] ^ variant)
            mh, mf = mh[ok], mf[ok]
        order = np.lexsort((mf, mh))
        mh, mf = mh[order], mf[order]
        brk = np.ones(mh.size, bool)
        brk[1:] = (np.diff(mh) != 1) | (np.diff(mf) != 1)
        starts = np.nonzero(brk)[0]
        lengths = np.diff(np.append(starts, mh.size))
        # One finding per (frame, uint8/int8): its longest run, and how much of it is here.
        group = (mf // total) * len(frames) + (mf % total) // size
        for grp in np.unique(group[starts]).tolist():
            ks = np.nonzero(group[starts] == grp)[0]
            k = int(ks[np.argmax(lengths[ks])])
            s0, length = starts[k], int(lengths[k])
            addr = region.addr + int(mh[s0])
            ref = int(mf[s0])
            kind = "int8 model input" if ref >= total else "uint8 pixels"
            frame_i, byte_i = divmod(ref % total, size)
            nbytes = length + w - 1
            message = (
                f"after frame {snapshot.seq}: {region.name} 0x{addr:08x}..0x{addr + nbytes - 1:08x}"
                f": {nbytes} bytes of frame {first + frame_i} from pixel offset {byte_i} "
                f"as {kind}"
            )
            if ks.size > 1:
                sel = group == grp
                covered = np.unique((mf[sel][:, None] + np.arange(w)).ravel()).size
                message += f"; {covered} of {size} bytes of it in {ks.size} runs here"
            out.append(message)
            if len(out) >= MAX_FINDINGS:
                return out
    return out


def check_ram_remnants(
    snapshots: list[RamSnapshot],
    frames: np.ndarray,
    window: int = 8,
    recent: int = DEFAULT_RECENT,
    note: str = "",
) -> CheckResult:
    f = Findings()
    if not snapshots:
        return f.result("ram_remnants", False, "no RAM snapshot was taken")
    searched_bytes = 0
    last = max(s.seq for s in snapshots)
    if last < len(frames) - 1:
        f.add(
            f"no RAM snapshot after the last frame ({len(frames) - 1}; the last was after "
            f"frame {last}): the run ended early, so the whole RAM was never searched"
        )
    for snap in sorted(snapshots, key=lambda s: s.seq):
        hi = min(snap.seq + 1, len(frames))
        lo = 0 if snap.seq == last else max(0, hi - recent)
        searched_bytes += snap.nbytes
        for message in _search(snap, frames[lo:hi], lo, window):
            f.add(message)
    regions = ", ".join(f"{r.name} 0x{r.addr:08x}+{len(r.data)}" for r in snapshots[-1].regions)
    detail = (
        f"{len(snapshots)} RAM snapshots at checkpoints (last after frame {last}; "
        f"{searched_bytes} bytes searched; regions {regions}) for {window}-byte runs of "
        f"frames already processed (last {recent} per snapshot, all in the final one)"
    )
    if note:
        detail += f"; {note}"
    return f.result("ram_remnants", not f, detail)
