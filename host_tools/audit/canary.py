"""Check 2a, ``canary_windows``: no run of ``window`` bytes of any injected frame occurs
anywhere in what the device sent, in any encoding the haystack decodes (raw, COBS, hex,
base64, zlib/gzip; see :mod:`.haystack`), and no thumbnail of a frame does either.

Each frame is looked for as:

* ``uint8 pixels`` and ``int8 model input`` (pixel XOR 0x80);
* each of its 8 bit planes packed 8 pixels to a byte, MSB-first and LSB-first (bit
  plane 7 is the frame thresholded at 128);
* its high nibbles packed two pixels to a byte;
* a thumbnail at 1/2 ... 1/12 scale (block means or one pixel per block), compared by
  correlation with the start of every decoded view and of every span outside records,
  because a device's downscaling need not round as ours does.

Windows that would match innocent bytes are not looked for (:func:`innocent_windows`):
near-constant windows (fewer than 4 distinct values; 3 for packed variants), windows of
small bytes only (counters, flags, zero padding -- and pixel 128 as int8), and ramps.
"""

from __future__ import annotations

import numpy as np

from ..protocol import Garbage, Span
from .haystack import COBS, RAW, Haystack
from .report import MAX_FINDINGS, CheckResult, Findings

DEFAULT_WINDOW = 8
MIN_WINDOW = 4
#: Reference bytes handled per batch of frames (bounds memory on long runs).
BATCH_BYTES = 3 << 20
THUMB_SCALES = (2, 3, 4, 6, 8, 12)
THUMB_MIN_PIXELS = 64
THUMB_MIN_CORRELATION = 0.9
THUMB_MAX_SEGMENTS = 400

_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)


# --------------------------------------------------------------------------- variants


class _Variant:
    def __init__(self, name: str, pixels_per_byte: float, fn, packed: bool) -> None:
        self.name = name
        self.pixels_per_byte = pixels_per_byte
        self.fn = fn  # [n, F] uint8 -> [n, S] uint8
        self.packed = packed


def _variants(frame_size: int) -> list[_Variant]:
    out = [
        _Variant("uint8 pixels", 1, lambda x: x, False),
        _Variant("int8 model input", 1, lambda x: x ^ np.uint8(0x80), False),
    ]
    if frame_size >= 64:
        for order, tag in (("big", "MSB-first"), ("little", "LSB-first")):
            for k in range(7, -1, -1):
                out.append(
                    _Variant(
                        f"bit plane {k} packed {tag}",
                        8,
                        lambda x, k=k, order=order: np.packbits(
                            (x >> np.uint8(k)) & np.uint8(1), axis=1, bitorder=order
                        ),
                        True,
                    )
                )
        out.append(
            _Variant(
                "high nibbles packed",
                2,
                lambda x: (
                    (x[:, 0 : x.shape[1] // 2 * 2 : 2] & np.uint8(0xF0))
                    | (x[:, 1 : x.shape[1] // 2 * 2 : 2] >> np.uint8(4))
                ),
                True,
            )
        )
    return out


# --------------------------------------------------------------------------- keys


def window_keys(buf: np.ndarray, w: int) -> np.ndarray:
    """One uint64 per w-byte window of ``buf``. For w <= 8 the key is the window itself
    (little-endian); for w > 8 a multiplicative hash, so matches must be re-checked."""
    n = len(buf) - w + 1
    if n <= 0:
        return np.empty(0, np.uint64)
    if w <= 8:
        padded = np.zeros(len(buf) + 8, np.uint8)
        padded[: len(buf)] = buf
        view = np.ndarray((n,), dtype="<u8", buffer=padded, strides=(1,))
        keys = view.astype(np.uint64)
        if w < 8:
            keys &= np.uint64((1 << (8 * w)) - 1)
        return keys
    b = buf.astype(np.uint64)
    keys = np.zeros(n, np.uint64)
    for j in range(w):
        keys = (keys ^ b[j : j + n]) * _HASH_MUL
    return keys


def _prefilter(small: np.ndarray, big: np.ndarray) -> np.ndarray:
    """Indices of ``big`` whose key may occur in ``small``: a one-hash Bloom filter
    sized for about 6% false positives, weeded out exactly afterwards."""
    bits = int(np.clip(np.ceil(np.log2(max(small.size, 1) * 16)), 16, 27))
    shift = np.uint64(64 - bits)
    table = np.zeros(1 << bits, bool)
    table[(small * _HASH_MUL) >> shift] = True
    return np.nonzero(table[(big * _HASH_MUL) >> shift])[0]


def match_keys(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) with a[i] == b[j]: every matching element of ``a`` paired with
    the first equal element of ``b``. Both sides are first cut down by a Bloom filter
    (linear time); only the survivors are sorted and paired."""
    empty = np.empty(0, np.int64)
    if a.size == 0 or b.size == 0:
        return empty, empty
    small, big = (a, b) if a.size <= b.size else (b, a)
    big_idx = _prefilter(small, big)
    small_idx = _prefilter(big[big_idx], small)
    if big_idx.size == 0 or small_idx.size == 0:
        return empty, empty
    ia, ib = (small_idx, big_idx) if a.size <= b.size else (big_idx, small_idx)
    a_order = ia[np.argsort(a[ia], kind="stable")]
    b_order = ib[np.argsort(b[ib], kind="stable")]
    a_sorted, b_sorted = a[a_order], b[b_order]
    pos = np.minimum(np.searchsorted(b_sorted, a_sorted), b_sorted.size - 1)
    hit = b_sorted[pos] == a_sorted
    return a_order[hit], b_order[pos[hit]]


#: A byte within this distance of 0 (as a signed byte) is "small": windows made only of
#: small bytes look like counters, flags and zero padding, which RAM and records are
#: full of (pixel 128 + a little is int8 0 + a little).
SMALL_BYTE = 16


def innocent_windows(buf: np.ndarray, w: int, n_win: int, packed: bool) -> np.ndarray:
    """Windows not worth looking for, because innocent bytes match them too often:
    fewer than 4 distinct byte values (3 for packed variants), every byte small
    (within SMALL_BYTE of 0 as a signed byte), or an arithmetic progression (a ramp)."""
    view = np.lib.stride_tricks.sliding_window_view(buf, w)[:n_win]
    distinct = np.ones(n_win, np.int8)
    for j in range(1, w):
        new = np.ones(n_win, bool)
        for k in range(j):
            new &= view[:, j] != view[:, k]
        distinct += new
    few = distinct < (3 if packed else 4)
    small = (((view.astype(np.int16) + SMALL_BYTE) & 0xFF) <= 2 * SMALL_BYTE).all(axis=1)
    step = (view[:, 1] - view[:, 0]).astype(np.uint8)
    ramp = np.ones(n_win, bool)
    for j in range(2, w):
        ramp &= (view[:, j] - view[:, j - 1]).astype(np.uint8) == step
    return few | small | ramp


def _row_col(shape: tuple[int, ...], pixel_i: int) -> str:
    if len(shape) == 3:  # [h, w, c]
        row, col = divmod(pixel_i // shape[2], shape[1])
    elif len(shape) == 2:
        row, col = divmod(pixel_i, shape[1])
    else:
        return ""
    return f" (row {row}, col {col})"


# --------------------------------------------------------------------------- search


class _HayWindows:
    """The haystack windows worth looking up, computed once for all frame batches. In a
    COBS-decoded chunk only windows holding a 0x00 (a byte COBS rewrote) are new; any
    other window of it lies verbatim in the raw bytes and would be reported twice."""

    def __init__(self, hay: Haystack, w: int) -> None:
        buf = np.frombuffer(hay.data, dtype=np.uint8)
        self.buf = buf
        h_win = max(0, buf.size - w + 1)
        pos = np.arange(h_win, dtype=np.int64)
        seg_len = hay.ends - hay.starts
        seg_end = np.repeat(hay.ends, seg_len)[:h_win]
        usable = pos + w <= seg_end
        cobs_seg = np.array([k == COBS for k in hay.kinds])
        if cobs_seg.any() and h_win:
            in_cobs = np.repeat(cobs_seg, seg_len)[:h_win]
            zeros = np.concatenate([[0], np.cumsum(buf == 0)])
            has_zero = zeros[np.minimum(pos + w, buf.size)] > zeros[pos]
            usable &= ~in_cobs | has_zero
        self.pos = pos[usable]
        self.keys = window_keys(buf, w)[self.pos] if h_win else np.empty(0, np.uint64)


def _batches(n: int, frame_size: int) -> list[tuple[int, int]]:
    per = max(1, BATCH_BYTES // max(1, frame_size * 5))
    return [(i, min(n, i + per)) for i in range(0, n, per)]


def check_canary(
    hay: Haystack, frames: np.ndarray, w: int, spans: list[Span] | None = None
) -> CheckResult:
    f = Findings()
    n = frames.shape[0]
    if n == 0:
        return f.result("canary_windows", True, "no frames injected: nothing to look for")
    shape = tuple(frames.shape[1:])
    frame_size = int(np.prod(shape))
    if frame_size < w:
        return f.result(
            "canary_windows",
            True,
            f"frames of {frame_size} bytes are shorter than the {w}-byte window",
        )
    flat_all = np.ascontiguousarray(frames).reshape(n, frame_size)
    variants = _variants(frame_size)
    sizes = [int(v.fn(flat_all[:1]).shape[1]) for v in variants]
    bases = np.cumsum([0] + [n * s for s in sizes])  # global reference position space

    hw = _HayWindows(hay, w)
    all_h: list[np.ndarray] = []
    all_g: list[np.ndarray] = []
    looked_up = skipped = 0
    for j0, j1 in _batches(n, frame_size):
        batch = flat_all[j0:j1]
        keys_l, ref_l, bufs = [], [], []
        for vi, v in enumerate(variants):
            vb = np.ascontiguousarray(v.fn(batch)).reshape(-1)
            size = sizes[vi]
            if size < w:
                continue
            n_win = vb.size - w + 1
            p = np.arange(n_win, dtype=np.int64)
            inside = (p % size) <= size - w
            innocent = innocent_windows(vb, w, n_win, v.packed)
            skipped += int(np.count_nonzero(innocent & inside))
            keep = inside & ~innocent
            keys_l.append(window_keys(vb, w)[keep])
            ref_l.append(p[keep] + int(bases[vi]) + j0 * size)
            bufs.append((int(bases[vi]) + j0 * size, vb))
        if not keys_l:
            continue
        fkeys = np.concatenate(keys_l)
        fref = np.concatenate(ref_l)
        looked_up += fkeys.size
        i_h, i_f = match_keys(hw.keys, fkeys)
        mh, g = hw.pos[i_h], fref[i_f]
        if w > 8 and mh.size:  # hashed keys: confirm byte for byte
            ok = np.zeros(mh.size, bool)
            for start, vb in bufs:
                sel = (g >= start) & (g < start + vb.size)
                if not sel.any():
                    continue
                loc = g[sel] - start
                good = np.ones(loc.size, bool)
                for k in range(w):
                    good &= hw.buf[mh[sel] + k] == vb[loc + k]
                ok[np.nonzero(sel)[0]] = good
            mh, g = mh[ok], g[ok]
        all_h.append(mh)
        all_g.append(g)

    mh = np.concatenate(all_h) if all_h else np.empty(0, np.int64)
    g = np.concatenate(all_g) if all_g else np.empty(0, np.int64)
    runs = 0
    if mh.size:
        order = np.lexsort((g, mh))
        mh, g = mh[order], g[order]
        brk = np.ones(mh.size, bool)
        brk[1:] = (np.diff(mh) != 1) | (np.diff(g) != 1)
        starts = np.nonzero(brk)[0]
        lengths = np.diff(np.append(starts, mh.size))
        runs = starts.size
        vi_of = np.searchsorted(bases, g, side="right") - 1
        size_of = np.asarray(sizes, np.int64)[vi_of]
        frame_of = (g - bases[vi_of]) // size_of
        group = vi_of * n + frame_of
        run_group = group[starts]
        groups = np.unique(run_group)
        # Per (variant, frame): bytes of it found, and its longest run, which stands for
        # the group; groups are listed in the capture order of their longest runs.
        summary = []
        for grp in groups.tolist():
            ks = np.nonzero(run_group == grp)[0]
            best = int(ks[np.argmax(lengths[ks])])
            sel = group == grp
            covered = int(np.unique((g[sel][:, None] + np.arange(w)).ravel()).size)
            at = int(mh[starts[best]])
            seg = hay.segment(at)
            where = at if seg == 0 else int(hay.origins[seg])
            summary.append((where, at, grp, best, covered, ks.size))
        summary.sort()
        for _, _, grp, k, covered, n_runs in summary[:MAX_FINDINGS]:
            s0, length = starts[k], int(lengths[k])
            h0, g0 = int(mh[s0]), int(g[s0])
            vi = int(vi_of[s0])
            v = variants[vi]
            frame_i, byte_i = divmod(g0 - int(bases[vi]), sizes[vi])
            nbytes = length + w - 1
            if v.packed:
                px = int(byte_i * v.pixels_per_byte)
                what = (
                    f"{nbytes} bytes of frame {frame_i} from byte {byte_i} of its {v.name} "
                    f"(pixels from {px}{_row_col(shape, px)})"
                )
            else:
                what = (
                    f"{nbytes} bytes of frame {frame_i} from pixel offset {byte_i}"
                    f"{_row_col(shape, byte_i)} as {v.name}"
                )
            message = f"{hay.locate(h0, nbytes)}: {what}"
            if n_runs > 1:
                message += (
                    f"; {covered} of {sizes[vi]} bytes of this frame found in {n_runs} runs in all"
                )
            f.add(message)
        f.total += max(0, len(summary) - MAX_FINDINGS)

    thumbs = _thumbnail_findings(hay, flat_all, shape, spans or [])
    for message in thumbs:
        f.add(message)

    names = (
        "uint8, int8, 16 packed bit planes, packed nibbles"
        if len(variants) > 2
        else ("uint8 and int8")
    )
    detail = (
        f"{looked_up} windows of {w} bytes from {n} frames ({names}) looked up in "
        f"{hw.pos.size} capture windows (raw + {hay.counts()}); "
        f"{skipped} constant windows skipped (flat, small-valued or ramp windows of pixels "
        f"would match innocent bytes); {mh.size} matching windows in {runs} runs; "
        f"{len(thumbs)} thumbnail matches"
    )
    if looked_up == 0:
        detail += "; every frame window is constant, so nothing could be checked"
    return f.result("canary_windows", not f, detail)


# --------------------------------------------------------------------------- thumbnails


def _thumbnails(flat: np.ndarray, shape: tuple[int, ...], k: int) -> list[tuple[str, np.ndarray]]:
    """Frames at 1/k scale as [n, t] float arrays: block means and top-left samples."""
    if len(shape) == 2:
        shape = (*shape, 1)
    h, w_, c = shape
    th, tw = h // k, w_ // k
    if th * tw * c < THUMB_MIN_PIXELS:
        return []
    img = flat.reshape(-1, h, w_, c)[:, : th * k, : tw * k, :].astype(np.float32)
    blocks = img.reshape(-1, th, k, tw, k, c)
    mean = blocks.mean(axis=(2, 4)).reshape(len(flat), -1)
    sample = blocks[:, :, 0, :, 0, :].reshape(len(flat), -1)
    return [(f"{th}x{tw} block-mean", mean), (f"{th}x{tw} subsampled", sample)]


def _thumbnail_findings(
    hay: Haystack, flat: np.ndarray, shape: tuple[int, ...], spans: list[Span]
) -> list[str]:
    """Starts of decoded views and of spans outside records that correlate with a
    thumbnail of some frame."""
    starts = [
        (int(s), int(e))
        for s, e, k in zip(hay.starts[1:], hay.ends[1:], hay.kinds[1:])
        if k != RAW and e - s >= THUMB_MIN_PIXELS
    ]
    starts += [
        (s.offset, s.end)
        for s in spans
        if isinstance(s.item, Garbage) and s.length >= THUMB_MIN_PIXELS
    ]
    if not starts:
        return []
    buf = np.frombuffer(hay.data, np.uint8)
    out: list[str] = []
    # Thumbnails centred and scaled to unit norm once: correlation is then a dot product.
    scales = []
    for k in THUMB_SCALES:
        for name, thumbs in _thumbnails(flat, shape, k):
            ts = thumbs - thumbs.mean(axis=1, keepdims=True)
            tn = np.sqrt((ts * ts).sum(axis=1, keepdims=True))
            with np.errstate(invalid="ignore", divide="ignore"):
                scales.append((name, np.nan_to_num(ts / tn)))
    seen: set[tuple[int, int]] = set()
    for pos, end in starts[:THUMB_MAX_SEGMENTS]:
        for name, unit in scales:
            t = unit.shape[1]
            if end - pos < t:
                continue
            x = buf[pos : pos + t].astype(np.float32)
            xs = x - x.mean()
            xn = float(np.sqrt((xs * xs).sum()))
            if xn == 0:
                continue
            r = unit @ (xs / xn)
            best = int(np.argmax(r))
            if r[best] >= THUMB_MIN_CORRELATION and (pos, best) not in seen:
                seen.add((pos, best))
                out.append(
                    f"{hay.locate(pos, t)}: a {name} thumbnail of frame {best} "
                    f"(correlation {r[best]:.3f} over {t} pixels)"
                )
                break
        if len(out) >= MAX_FINDINGS:
            break
    return out
