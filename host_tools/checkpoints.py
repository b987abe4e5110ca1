"""Read device RAM back at each HIL checkpoint while the serial link keeps being read,
for the real-board audit's memory (and cycle-counter) comparison
(:mod:`host_tools.noninterference.sequential`) and the pytest plugin's RAM read-back.

HIL firmware calls ``pk_hil_checkpoint(seq)`` once per frame, after every buffer that
held the frame was wiped. :class:`CheckpointReader` stops there over the GDB remote
protocol (the firmware's :class:`host_tools.gdb_rsp.GdbClient`): it sets a breakpoint on
the symbol and at each stop reads ``seq`` from r0 and a fixed list of memory regions,
then steps over the breakpoint and continues. It runs in its own thread, so the device's
serial output is read (and time-stamped) by the caller meanwhile, in the same run the
audit checks -- one run gives both the capture and the RAM snapshots.

The same protocol reaches QEMU's gdbstub (``-gdb tcp::PORT -S``) and, on real boards, the
gdbserver of pyOCD (``pyocd gdbserver``) or OpenOCD; only the emulator path is tested.

What is read: every RAM region the board (or rig) names and the whole frame-bank window
at every checkpoint (:func:`ram_regions`), and the board's cycle counter where the rig
names one.
"""

from __future__ import annotations

import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .audit.memory import RamRegion, RamSnapshot
from .frame_bank import HEADER_SIZE

CHECKPOINT_SYMBOL = "pk_hil_checkpoint"
SHF_ALLOC = 0x2


@dataclass(frozen=True)
class ElfSection:
    name: str
    addr: int
    size: int
    flags: int
    type: int


def elf_headers(data: bytes, elf: Path) -> list[tuple[int, ...]]:
    """The raw section headers (ten u32 fields each: name, type, flags, addr, offset,
    size, link, info, addralign, entsize) of the 32-bit little-endian ELF ``data`` read
    from ``elf`` (named in the error)."""
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise ValueError(f"{elf}: not a 32-bit little-endian ELF")
    (shoff,) = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum, _ = struct.unpack_from("<HHH", data, 0x2E)
    return [struct.unpack_from("<IIIIIIIIII", data, shoff + i * shentsize) for i in range(shnum)]


def elf_sections(elf: Path) -> list[ElfSection]:
    """Section headers of a 32-bit little-endian ELF (what arm-none-eabi-gcc writes)."""
    data = Path(elf).read_bytes()
    headers = elf_headers(data, elf)
    (shstrndx,) = struct.unpack_from("<H", data, 0x32)
    str_off = headers[shstrndx][4]
    out = []
    for h in headers:
        end = data.index(b"\x00", str_off + h[0])
        out.append(ElfSection(data[str_off + h[0] : end].decode(), h[3], h[5], h[2], h[1]))
    return out


def elf_symbols(elf: Path) -> dict[str, tuple[int, int]]:
    """name -> (value, size) of every named symbol in the ELF's .symtab (the last one
    wins when local symbols share a name)."""
    data = Path(elf).read_bytes()
    headers = elf_headers(data, elf)
    out: dict[str, tuple[int, int]] = {}
    for h in headers:
        if h[1] != 2:  # SHT_SYMTAB
            continue
        str_off = headers[h[6]][4]
        for off in range(h[4], h[4] + h[5], 16):
            st_name, st_value, st_size = struct.unpack_from("<III", data, off)
            if st_name:
                end = data.index(b"\x00", str_off + st_name)
                out[data[str_off + st_name : end].decode(errors="replace")] = (st_value, st_size)
    return out


def symbol_address(elf: Path, name: str) -> int:
    """Address of ``name`` (Thumb bit cleared), from the ELF's .symtab."""
    try:
        return elf_symbols(elf)[name][0] & ~1
    except KeyError:
        raise KeyError(f"{name} not in the symbol table of {elf} (not a HIL build?)") from None


def ram_regions(ram, bank_addr: int, frame_bytes: int, n_frames: int) -> list[tuple[str, int, int]]:
    """(name, address, bytes) to read at every checkpoint: every RAM region of ``ram``
    ((address, bytes) pairs) and the whole frame bank (header and ``n_frames`` slots)."""
    bank = HEADER_SIZE + n_frames * frame_bytes
    return [("RAM", int(a), int(n)) for a, n in ram] + [("frame bank", bank_addr, bank)]


class CheckpointReader(threading.Thread):
    """Breaks at ``pk_hil_checkpoint`` over GDB RSP and snapshots RAM there.

    Start it after the serial link is open (QEMU waits for it) and before reading: the
    target is halted until this thread continues it. ``regions``: (name, address, bytes)
    read at every checkpoint (:func:`ram_regions`). ``error`` holds what went wrong, if
    anything; the thread ends when the target exits or the link drops.
    """

    def __init__(
        self,
        port: int,
        checkpoint_addr: int,
        regions: list[tuple[str, int, int]],
        host: str = "127.0.0.1",
        timeout_s: float = 60.0,
        cycle_counter: int | None = None,
    ) -> None:
        super().__init__(name="peekless-checkpoints", daemon=True)
        self.port = port
        self.checkpoint_addr = checkpoint_addr
        self.regions = list(regions)
        self.host = host
        self.timeout_s = timeout_s
        self.cycle_counter = cycle_counter
        self.snapshots: list[RamSnapshot] = []
        # When the core was continued from checkpoint seq (-1: the first start), by the
        # host's clock: a frame's latency excludes the time the debugger held the core.
        self.resumed_at: dict[int, float] = {}
        self.checkpoints = 0
        self.read_bytes = 0
        self.read_s = 0.0
        self.error: str | None = None
        self.ended = ""
        self._ready = threading.Event()
        self._gdb = None

    def wait_ready(self, timeout_s: float) -> bool:
        """True once the breakpoint is set and the target continued (or the thread gave
        up: then ``error`` says why)."""
        return self._ready.wait(timeout_s)

    def stop(self) -> None:
        """Drop the debugger link (ends the thread)."""
        gdb = self._gdb
        if gdb is not None:
            try:
                gdb.close()
            except OSError:
                pass

    def run(self) -> None:
        from .gdb_rsp import GdbClient, GdbError

        try:
            gdb = GdbClient.connect(self.port, self.host, timeout_s=self.timeout_s)
        except OSError as e:
            self.error = f"could not connect to the gdbstub at {self.host}:{self.port}: {e}"
            self._ready.set()
            return
        self._gdb = gdb
        bp = self.checkpoint_addr
        try:
            gdb.set_breakpoint(bp)
            self._ready.set()
            seq = -1
            while True:
                self.resumed_at[seq] = time.monotonic()
                stop = gdb.cont()
                if stop[:1] in (b"W", b"X"):
                    self.ended = f"target exited ({stop.decode(errors='replace')})"
                    return
                if stop[:1] not in (b"T", b"S"):
                    self.error = f"unexpected stop reply {stop[:40]!r}"
                    return
                seq = _read_r0(gdb)
                self.checkpoints += 1
                t0 = time.monotonic()
                regions = []
                for name, addr, size in self.regions:
                    regions.append(RamRegion(name, addr, gdb.read_memory(addr, size)))
                    self.read_bytes += size
                self.read_s += time.monotonic() - t0
                cycles = None
                if self.cycle_counter is not None:
                    word = gdb.read_memory(self.cycle_counter, 4)
                    cycles = int.from_bytes(word, "little")
                self.snapshots.append(RamSnapshot(seq, regions, cycles))
                # A stub stops before the breakpoint's instruction and does not step over
                # it by itself (continuing would stop there again): take it out, step one
                # instruction, put it back.
                gdb.request(f"z0,{bp:x},2")
                gdb.request("s")
                gdb.set_breakpoint(bp)
        except (GdbError, OSError, ValueError) as e:
            if not self.ended:
                self.ended = f"link ended: {type(e).__name__}: {e}"
        finally:
            self._ready.set()
            try:
                gdb.close()
            except OSError:
                pass


def _read_r0(gdb) -> int:
    """r0 (the checkpoint's ``seq`` argument). QEMU 7.2's Arm stub answers ``p`` with an
    empty packet (not supported), so read all registers with ``g``: r0 comes first."""
    reply = gdb.request("p0")
    if not reply:
        reply = gdb.request("g")[:8]
    return int.from_bytes(bytes.fromhex(reply[:8].decode()), "little")
