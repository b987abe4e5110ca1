"""Diagnostics: once the noninterference checks have found that something depends on the
pixels, say *what* it is. They never decide the verdict (a difference between the runs
is a leak whatever its encoding); they name the frame, the encoding and the place.

- Output: the capture checks of version 1 (canary windows in raw, hex, base64, zlib and
  bit-packed views, image signatures, entropy, the record budget) on what run A sent,
  searched for the frames whose output differed.
- Memory: each differing range is tested as a copy of the frame shown at a position
  under an XOR with one constant byte (0x00 is a verbatim copy, 0x80 the int8 model
  input, anything else an obfuscated copy): ``A_mem ^ B_mem`` equals
  ``frame_A ^ frame_B`` exactly where the device keeps ``frame ^ k``, whatever ``k``.
"""

from __future__ import annotations

import numpy as np

from .canary import innocent_windows, match_keys, window_keys
from .report import CheckResult, Findings

WINDOW = 8
#: Differing ranges searched per checkpoint (the first ones; the rest are counted).
MAX_RANGES = 64


def _keys(data: np.ndarray, w: int = WINDOW) -> tuple[np.ndarray, np.ndarray]:
    n_win = data.size - w + 1
    if n_win <= 0:
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    keep = ~innocent_windows(data, w, n_win, packed=False)
    return window_keys(data, w)[keep], np.flatnonzero(keep)


def memory_copies(lock, frames_a: np.ndarray, frames_b: np.ndarray) -> list[str]:
    """What the differing memory holds: for every kept range, the positions whose frame
    it copies, and how (see the module doc). ``frames_a``/``frames_b``: the frames of runs
    A and B in showing order, [n, ...] uint8."""
    out: list[str] = []
    n = len(frames_a)
    flat_a = frames_a.reshape(n, -1)
    flat_b = frames_b.reshape(n, -1)
    size = flat_a.shape[1]
    for m in lock.memory:
        done = m.frames_done
        when = f"after frame {done - 1}" if done else "before the first frame"
        if not m.kept:
            continue
        shown = range(min(done, n))
        if not shown:
            continue
        # Reference: frame_A ^ frame_B of every position already shown.
        ref = (flat_a[: len(shown)] ^ flat_b[: len(shown)]).reshape(-1)
        rkeys, rpos = _keys(ref)
        found_any = False
        for region, addr, mem_a, mem_b in m.kept[:MAX_RANGES]:
            xa = np.frombuffer(mem_a, np.uint8)
            xb = np.frombuffer(mem_b, np.uint8)
            d = xa ^ xb
            hkeys, hpos = _keys(d)
            i_h, i_r = match_keys(hkeys, rkeys)
            if i_h.size == 0:
                continue
            found_any = True
            hits = hpos[i_h]
            refs = rpos[i_r]
            frames_hit = np.unique(refs // size)
            for p in frames_hit[:4].tolist():
                sel = refs // size == p
                first = int(np.argmin(hits[sel]))
                j = int(hits[sel][first])
                src = int(refs[sel][first] % size)
                k = int(xa[j] ^ flat_a[p, src])
                covered = np.unique((hits[sel][:, None] + np.arange(WINDOW)).ravel()).size
                how = {0x00: "a verbatim copy", 0x80: "the int8 model input"}.get(
                    k, f"a copy XORed with 0x{k:02x}"
                )
                out.append(
                    f"{when}: {region} from 0x{addr + j:08x}: {covered} bytes of the frame "
                    f"shown at position {p} (from pixel byte {src}) as {how}"
                )
        if not found_any:
            total = sum(len(x[2]) for x in m.kept)
            out.append(
                f"{when}: {m.bytes_differing} bytes differ ({total} examined) and none is a "
                f"copy of a frame under a constant XOR: derived, encoded or compressed data, "
                f"or state that follows the pixels"
            )
        if len(out) >= 20:
            break
    return out


def memory_diagnostic(lock, frames_a: np.ndarray, frames_b: np.ndarray) -> CheckResult:
    f = Findings()
    for line in memory_copies(lock, frames_a, frames_b):
        f.add(line)
    detail = (
        f"{len(lock.memory)} checkpoints with differing memory examined for copies of "
        f"the frames (any constant XOR)"
    )
    result = f.result("memory_content", not lock.memory, detail)
    return result
