"""Read an emulated device's memory back after every frame, to prove nothing is kept.

HIL images call ``pk_hil_checkpoint(seq)`` (firmware/app/pk_hil_checkpoint_hil.c) after
frame ``seq``'s buffers were wiped. :func:`run_with_readback` runs QEMU with a gdbstub,
breaks there, and reads RAM and the frame bank back over the GDB remote protocol
(host_tools/gdb_rsp.py); :func:`find_windows` says where any 8-byte window of a frame
still is.

    run = run_with_readback(elf, "an386", frame_bank=bank)
    for snap in run.snapshots:
        assert find_windows(snap, frames[: snap.seq + 1]) == []
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from host_tools.checkpoints import CHECKPOINT_SYMBOL, symbol_address
from host_tools.emulator import QEMU, EmulatorError, board_info, free_port, qemu_command
from host_tools.gdb_rsp import GdbClient

WINDOW = 8  # bytes: a random 8-byte window occurs by chance with probability ~2^-64


@dataclass
class Snapshot:
    """Memory read back at one checkpoint: frame ``seq``'s buffers were just wiped."""

    seq: int
    regions: list[tuple[int, bytes]]  # (address, bytes read there)


@dataclass
class ReadbackRun:
    """An emulator run stopped at every HIL checkpoint to read memory back."""

    capture: bytes  # the serial link
    exit_code: int | None  # None if QEMU was killed
    stderr: str
    snapshots: list[Snapshot]


def readback_regions(
    elf: Path, board: str = "an386", frame_bank: Path | None = None, full_ram: bool = True
) -> list[tuple[int, int]]:
    """(address, bytes) to read back at each checkpoint.

    ``full_ram``: every RAM region of the board (Board.ram), whole; otherwise only what
    the image uses: its stack (at the bottom of RAM), .data and .bss. Plus the frame bank
    window as far as the bank file reaches.
    """
    b = board_info(board)
    if full_ram:
        regions = list(b.ram)
    else:
        start = symbol_address(elf, "pk_ld_stack_limit")
        bss_end = symbol_address(elf, "pk_ld_bss_end")
        regions = [(start, bss_end - start)]
    if frame_bank is not None:
        regions.append((b.bank_addr, min(Path(frame_bank).stat().st_size, b.bank_bytes)))
    return regions


def run_with_readback(
    elf: Path,
    board: str = "an386",
    frame_bank: Path | None = None,
    regions: list[tuple[int, int]] | None = None,
    timeout_s: float = 120.0,
) -> ReadbackRun:
    """Run a HIL image under a gdbstub, stopping at every ``pk_hil_checkpoint(seq)``.

    At each stop the ``regions`` (default: :func:`readback_regions`) are read back over
    the GDB remote protocol (host_tools/gdb_rsp.py). UART0 goes to a file (QEMU's stdio),
    so the guest never waits on a serial reader.
    """
    if shutil.which(QEMU) is None:
        raise EmulatorError(f"{QEMU} not found on PATH: run make setup")
    if regions is None:
        regions = readback_regions(elf, board, frame_bank)
    checkpoint = symbol_address(elf, CHECKPOINT_SYMBOL)
    snapshots: list[Snapshot] = []
    port = free_port()
    cmd = qemu_command(Path(elf), board, frame_bank, serial_port=None, gdb_port=port)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        try:
            with GdbClient.connect(port, timeout_s=timeout_s) as gdb:
                gdb.set_breakpoint(checkpoint)
                while True:
                    stop = gdb.cont()
                    if not stop.startswith((b"T", b"S")):
                        break  # W<code>: exited; X<sig>: killed
                    if gdb.read_register(15) != checkpoint:
                        raise EmulatorError(f"stopped outside the checkpoint: {stop!r}")
                    seq = gdb.read_register(0)
                    snapshots.append(
                        Snapshot(seq, [(a, gdb.read_memory(a, n)) for a, n in regions])
                    )
            exit_code = process.wait(timeout=timeout_s)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        out.seek(0)
        err.seek(0)
        return ReadbackRun(out.read(), exit_code, err.read().decode(errors="replace"), snapshots)


def _window_keys(data: bytes | np.ndarray, w: int, at: np.ndarray | None = None) -> np.ndarray:
    """The w-byte windows (w <= 8) of ``data`` starting at ``at`` (default: every
    position) as little-endian uint64 keys."""
    a = np.frombuffer(data, dtype=np.uint8) if isinstance(data, bytes) else data
    if at is None:
        at = np.arange(max(len(a) - w + 1, 0))
    keys = np.zeros(len(at), dtype=np.uint64)
    for i in range(w):
        keys |= a[at + i].astype(np.uint64) << np.uint64(8 * i)
    return keys


class WindowIndex:
    """Every w-byte window of a list of needles (frames), sorted for fast look-up.

    Windows of one repeated byte value are left out: 0x00 runs fill wiped RAM, and a
    constant run proves nothing about where it came from.
    """

    def __init__(self, needles: list[bytes], w: int = WINDOW) -> None:
        self.w = w
        keys, owner, offset = [], [], []
        for k, needle in enumerate(needles):
            arr = np.frombuffer(needle, dtype=np.uint8)
            kk = _window_keys(arr, w)
            uniform = (arr[: len(kk)].astype(np.uint64) * np.uint64(_REPEAT[w])) == kk
            keep = np.nonzero(~uniform)[0]
            keys.append(kk[keep])
            owner.append(np.full(len(keep), k, dtype=np.int64))
            offset.append(keep)
        all_keys = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
        order = np.argsort(all_keys, kind="stable")
        self.keys = all_keys[order]
        self.owner = np.concatenate(owner)[order] if keys else np.zeros(0, np.int64)
        self.offset = np.concatenate(offset)[order] if keys else np.zeros(0, np.int64)

    def find(self, snapshot: Snapshot, needles: set[int] | None = None) -> list[tuple]:
        """(needle index, offset in the needle, address) of each indexed window found in
        the snapshot, for the needles in ``needles`` (default all). Only windows with a
        non-zero byte are looked at, so a wiped region costs almost nothing."""
        found: list[tuple[int, int, int]] = []
        if not len(self.keys):
            return found
        allowed = None if needles is None else np.array(sorted(needles), dtype=np.int64)
        for addr, data in snapshot.regions:
            a = np.frombuffer(data, dtype=np.uint8)
            n = len(a) - self.w + 1
            if n <= 0:
                continue
            # Window starts whose window holds a non-zero byte.
            live = np.zeros(n, dtype=bool)
            for i in range(self.w):
                live |= a[i : i + n] != 0
            starts = np.nonzero(live)[0]
            hay = _window_keys(a, self.w, starts)
            lo = np.searchsorted(self.keys, hay, "left")
            cnt = np.searchsorted(self.keys, hay, "right") - lo
            hit = cnt > 0
            if not hit.any():
                continue
            # Expand each hit to every needle window with that key.
            lo, cnt, at = lo[hit], cnt[hit], starts[hit]
            first = np.repeat(np.cumsum(cnt) - cnt, cnt)
            idx = np.repeat(lo, cnt) + (np.arange(int(cnt.sum())) - first)
            owner, offset, where = self.owner[idx], self.offset[idx], np.repeat(at, cnt)
            if allowed is not None:
                keep = np.isin(owner, allowed)
                owner, offset, where = owner[keep], offset[keep], where[keep]
            found += [(int(k), int(o), addr + int(p)) for k, o, p in zip(owner, offset, where)]
        return found


_REPEAT = {w: int("01" * w, 16) for w in range(1, 9)}


def find_windows(snapshot: Snapshot, needles: list[bytes], w: int = WINDOW) -> list[tuple]:
    """(needle index, offset in the needle, address) of every w-byte window of any needle
    found in the snapshot (windows of one repeated byte value ignored). For many
    snapshots against the same frames, build one :class:`WindowIndex` instead."""
    return WindowIndex(needles, w).find(snapshot)
