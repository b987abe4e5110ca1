"""One emulated board set up to be watched from outside: everything a leak could use is
visible to the host, and nothing the host does changes what the guest computes.

- ``-icount shift=0,align=off,sleep=off``: deterministic; QMP ``query-replay`` gives the
  instruction count at every stop, a clock the guest can neither read nor reprogram;
- every UART of the board writes to its own file (``-chardev file``), which never
  blocks, so the firmware's TX polling cannot depend on how fast the host reads; a
  write watchpoint on each UART's data register stops the core before every byte;
- the machine's main RAM is a file on tmpfs (``memory-backend-file``, shared) that the
  host maps: 16 MiB sensor window on mps2, 2 GiB DDR on mps3-an547 (compared by the
  pages ever touched, so an untouched DDR costs nothing); every other RAM block is
  dumped with QMP ``memsave`` (the CPU's view) or ``pmemsave`` (system bus) at each
  checkpoint (:mod:`.machine_map` finds them all);
- ``-no-reboot``: a guest reset ends the run (an exit event, compared like any other).

    with QemuDevice(elf, "an386", workdir) as dev:
        dev.start()                      # halted at reset, map known
        dev.link.set_breakpoint(addr)
        dev.resume(None); stop = dev.wait_stop(30)
        snap = dev.snapshot()
"""

from __future__ import annotations

import mmap
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import emulator
from ..qmp import QmpClient, QmpError
from .machine_map import MachineMap, build_map, parse_ramblocks
from .rsp import DebugLink, Stop, parse_stop

MAIN_RAM_ID = "peekless-main-ram"
#: Main RAM larger than this is compared by its touched pages only (SEEK_DATA).
SPARSE_ABOVE = 64 << 20
MAX_UARTS = 8  # chardevs offered; a board uses the first it has
_SOCKET_DIR = "/tmp" if os.path.isdir("/tmp") else None
_MAIN_RAM_SIZE: dict[str, tuple[str, int]] = {}


class DeviceError(RuntimeError):
    """QEMU would not start, or the debugger/monitor link failed."""


def main_ram_of(machine: str, cpu: str, elf: Path) -> tuple[str, int]:
    """(default RAM id, bytes) of a QEMU machine, asked of a halted QEMU once per process
    (QEMU sizes a machine's main RAM itself; the backend file must match it)."""
    if machine in _MAIN_RAM_SIZE:
        return _MAIN_RAM_SIZE[machine]
    sockdir = Path(tempfile.mkdtemp(prefix="pk-qmp-", dir=_SOCKET_DIR))
    sock = sockdir / "probe.qmp"
    cmd = [
        emulator.QEMU,
        "-machine",
        machine,
        "-cpu",
        cpu,
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "none",
        "-kernel",
        str(elf),
        "-qmp",
        f"unix:{sock},server=on,wait=off",
        "-S",
    ]
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        with QmpClient.connect(str(sock)) as qmp:
            ram_id = next(
                m.get("default-ram-id")
                for m in qmp.execute("query-machines")
                if m["name"] == machine
            )
            blocks = parse_ramblocks(qmp.hmp("info ramblock"))
    except (QmpError, StopIteration) as e:
        raise DeviceError(f"could not probe QEMU machine {machine}: {e}") from e
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(sockdir, ignore_errors=True)
    if ram_id not in blocks:
        raise DeviceError(f"{machine}: default RAM {ram_id!r} not among {sorted(blocks)}")
    _MAIN_RAM_SIZE[machine] = (ram_id, blocks[ram_id])
    return _MAIN_RAM_SIZE[machine]


@dataclass
class Snapshot:
    """What one device holds at one stop: registers, and each region's bytes (numpy
    arrays; the main RAM's is a live map, valid until the device resumes)."""

    icount: int
    registers: dict[str, bytes]
    regions: dict[str, np.ndarray] = field(default_factory=dict)
    main_extents: list[tuple[int, int]] | None = None  # touched [start, end) of a sparse main RAM


class QemuDevice:
    """One QEMU process for the audit (see the module doc)."""

    def __init__(
        self,
        elf: str | os.PathLike[str],
        board: str,
        workdir: str | os.PathLike[str],
        semihosting: bool = False,
        label: str = "A",
    ) -> None:
        self.elf = Path(elf)
        self.board = emulator.board_info(board)
        self.board_name = board
        self.workdir = Path(workdir) / label
        self.semihosting = semihosting
        self.label = label
        self.proc: subprocess.Popen | None = None
        self.qmp: QmpClient | None = None
        self.link: DebugLink | None = None
        self.map: MachineMap | None = None
        self.main_file: Path | None = None
        self._main_mm: mmap.mmap | None = None
        self._main: np.ndarray | None = None
        self.uart_files: list[Path | None] = []
        self._uart_fds: list[int | None] = []
        self._uart_read: list[int] = []
        self._log: Path | None = None
        self._sockdir: Path | None = None

    # ---- life cycle ---------------------------------------------------------------------

    def command(self, qmp_path: Path, gdb_port: int, ram_size: int) -> list[str]:
        b = self.board
        backend = (
            f"memory-backend-file,id={MAIN_RAM_ID},size={ram_size},mem-path={self.main_file},"
            "share=on"
        )
        cmd = [
            emulator.QEMU,
            "-machine",
            f"{b.machine},memory-backend={MAIN_RAM_ID}",
            "-cpu",
            b.cpu,
            "-nographic",
            "-monitor",
            "none",
            "-no-reboot",
            "-kernel",
            str(self.elf),
            "-icount",
            "shift=0,align=off,sleep=off",
            "-object",
            backend,
            "-qmp",
            f"unix:{qmp_path},server=on,wait=off",
            "-gdb",
            f"tcp:127.0.0.1:{gdb_port}",
            "-S",
        ]
        if self.semihosting:
            cmd += ["-semihosting-config", "enable=on,target=native"]
        for i in range(MAX_UARTS):
            cmd += [
                "-chardev",
                f"file,id=uart{i},path={self.workdir / f'uart{i}.bin'}",
                "-serial",
                f"chardev:uart{i}",
            ]
        return cmd

    def start(self, connect_s: float = 10.0) -> None:
        """Start QEMU halted at reset, connect QMP and the debugger, find every region and
        UART, put a write watchpoint on each UART data register."""
        if shutil.which(emulator.QEMU) is None:
            raise DeviceError(f"{emulator.QEMU} not found on PATH: run make setup")
        if not self.elf.is_file():
            raise DeviceError(f"{self.elf}: no such ELF")
        self.workdir.mkdir(parents=True, exist_ok=True)
        _, ram_size = main_ram_of(self.board.machine, self.board.cpu, self.elf)
        self.main_file = self.workdir / "main_ram.bin"
        with open(self.main_file, "wb") as f:
            f.truncate(ram_size)  # sparse: untouched pages take no memory
        # A Unix socket path must be short (108 bytes): not under a deep work folder.
        self._sockdir = Path(tempfile.mkdtemp(prefix="pk-qmp-", dir=_SOCKET_DIR))
        qmp_path = self._sockdir / "qmp.sock"
        port = emulator.free_port()
        self._log = self.workdir / "qemu.log"
        with open(self._log, "wb") as log:
            self.proc = subprocess.Popen(
                self.command(qmp_path, port, ram_size),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        try:
            self.qmp = QmpClient.connect(str(qmp_path), connect_s=connect_s)
            self.link = DebugLink.connect(port, timeout_s=60.0, connect_s=connect_s)
        except (OSError, QmpError) as e:
            raise DeviceError(f"QEMU ({self.label}) did not come up: {e}\n{self.log_text()}") from e
        self.map = build_map(self.qmp, MAIN_RAM_ID)
        fd = os.open(self.main_file, os.O_RDONLY)
        try:
            self._main_mm = mmap.mmap(fd, ram_size, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        self._main = np.frombuffer(self._main_mm, np.uint8)
        self.uart_files = []
        for u in self.map.uarts:
            path = None
            if u.chardev and u.chardev.startswith("uart"):
                path = self.workdir / f"{u.chardev}.bin"
            self.uart_files.append(path)
        self._uart_fds = [os.open(p, os.O_RDONLY) if p else None for p in self.uart_files]
        self._uart_read = [0] * len(self.uart_files)
        for u in self.map.uarts:
            for addr in u.data_addrs:
                self.link.set_watchpoint(addr, 4)

    def log_text(self) -> str:
        try:
            return self._log.read_text(errors="replace") if self._log else ""
        except OSError:
            return ""

    def close(self) -> None:
        for closer in (self.link, self.qmp):
            if closer is not None:
                try:
                    closer.close()
                except OSError:
                    pass
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._main = None
        if self._main_mm is not None:
            try:
                self._main_mm.close()
            except BufferError:
                pass  # a view is still alive; freed with it
        for fd in self._uart_fds:
            if fd is not None:
                os.close(fd)
        self._uart_fds = []
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self._sockdir is not None:
            shutil.rmtree(self._sockdir, ignore_errors=True)

    def __enter__(self) -> QemuDevice:  # noqa: PYI034
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- run control --------------------------------------------------------------------

    def resume(self, stop: Stop | None, pc: int | None = None) -> None:
        """Continue from ``stop`` (``pc``: where the core stopped, if already read)."""
        self.link.continue_from(stop, pc)

    def wait_stop(self, timeout_s: float) -> Stop:
        """The next stop; raises TimeoutError after ``timeout_s`` of silence."""
        reply = self.link.wait_stop(timeout_s)
        if reply is None:
            raise TimeoutError(f"no stop within {timeout_s} s")
        return parse_stop(reply)

    def icount(self) -> int:
        return self.qmp.icount()

    def exit_code(self, wait_s: float = 5.0) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            return None

    # ---- what an observer sees ----------------------------------------------------------

    def new_output(self, channel: int) -> bytes:
        """Bytes UART ``channel`` sent since the last call."""
        fd = self._uart_fds[channel]
        if fd is None:
            return b""
        data = os.pread(fd, 1 << 24, self._uart_read[channel])
        self._uart_read[channel] += len(data)
        return data

    def snapshot(self, registers: bool = True, rom: bool = True) -> Snapshot:
        """Registers and every region's bytes, the core halted. ``rom``: read the blocks
        QEMU maps read-only too (the guest cannot change them: the audit reads them at the
        first and the last checkpoint only)."""
        snap = Snapshot(self.icount(), self.link.registers() if registers else {})
        for i, r in enumerate(self.map.regions):
            if r.kind == "rom" and not rom:
                continue
            if r.via == "backend":
                snap.regions[r.name] = self._main
                if r.size > SPARSE_ABOVE:
                    snap.main_extents = touched_extents(self.main_file)
                continue
            if r.via == "none":
                continue
            path = self.workdir / f"region{i}.bin"
            if r.via == "cpu":
                self.qmp.execute("memsave", val=r.addr, size=r.size, filename=str(path))
            else:
                self.qmp.pmemsave(r.addr, r.size, str(path))
            snap.regions[r.name] = np.fromfile(path, np.uint8)
        return snap


def touched_extents(path: Path) -> list[tuple[int, int]]:
    """[start, end) byte ranges of a sparse file that hold data (pages ever written)."""
    out = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:
                break  # ENXIO: no data after pos
            end = os.lseek(fd, start, os.SEEK_HOLE)
            out.append((start, end))
            pos = end
    finally:
        os.close(fd)
    return out
