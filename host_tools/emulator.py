"""Run Peekless firmware under qemu-system-arm with its serial link on a TCP socket.

The device's UART0 is a QEMU socket chardev in server mode with ``wait=on``: QEMU does
not start the guest until a client connects, so not a byte is lost. The host side is
opened with ``serial.serial_for_url("socket://...")`` so the same code reads a real
board's tty or an RFC 2217 server.

    run = run_capture(Path("build/peekless.elf"), frame_bank=Path("bank.pkfb"))
    run.exit_code, run.capture          # after the firmware exited

    with start(elf) as emu:              # interactive
        link = emu.open_serial()
        link.read(100)

Instruction counts read by the firmware are exact only with ``icount=True``
(``-icount shift=0``: one instruction per virtual nanosecond). They are instruction
counts, not cycles: QEMU has no cycle model.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import socket
import struct
import subprocess
import tempfile
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import serial

QEMU = "qemu-system-arm"
CONNECT_TIMEOUT_S = 5.0  # QEMU starts listening within 0.1-0.2 s; allow slow machines
POLL_S = 0.2  # longest single blocking read; bounds how late a timeout is noticed


@dataclass(frozen=True)
class Board:
    """Facts about one emulated board (see ../shared/notes/emulator.md).

    The firmware's side of the same facts is firmware/ports/qemu_mps2/board.h (addresses)
    and the board's linker script; tests/test_boards.py checks the two agree.
    """

    machine: str
    cpu: str
    bank_addr: int  # where QEMU preloads the HIL frame bank (firmware: PK_BOARD_BANK_BASE)
    bank_bytes: int  # size of the bank window (PK_BOARD_BANK_BYTES)
    uart0: int  # CMSDK UART0 base (PK_BOARD_UART0_BASE)
    insn_per_tick: tuple[int, int]  # instruction counter resolution, numerator/denominator
    ram: tuple[tuple[int, int], ...]  # (address, bytes) of every RAM region the image uses
    uarts: int = 5  # CMSDK UARTs of the machine (QEMU gives each a -serial backend)


BOARDS: dict[str, Board] = {
    "an386": Board(
        machine="mps2-an386",
        cpu="cortex-m4",
        bank_addr=0x21000000,
        bank_bytes=16 << 20,
        uart0=0x40004000,
        insn_per_tick=(40, 1),  # CMSDK TIMER0 at 25 MHz
        ram=((0x20000000, 4 << 20),),
    ),
    "an500": Board(
        machine="mps2-an500",
        cpu="cortex-m7",
        bank_addr=0x60000000,  # 0x21000000 is not RAM on an500
        bank_bytes=16 << 20,
        uart0=0x40004000,
        insn_per_tick=(40, 1),
        ram=((0x20000000, 4 << 20),),
    ),
    "an547": Board(
        machine="mps3-an547",
        cpu="cortex-m55",
        bank_addr=0x21000000,
        bank_bytes=4 << 20,
        uart0=0x49303000,
        insn_per_tick=(125, 4),  # SysTick at 32 MHz: 31.25 instructions per tick
        ram=((0x20000000, 512 << 10),),  # DTCM; the bank SRAM is scanned as bank_addr
        uarts=6,
    ),
}


class EmulatorError(RuntimeError):
    """QEMU could not be started, or stopped before the serial link was connected."""


@dataclass
class EmulatorRun:
    """Everything one emulator run produced."""

    capture: bytes  # every byte read from the device's serial link
    exit_code: int | None  # QEMU's exit status (semihosting exit code), None if killed
    stderr: str  # QEMU's stdout and stderr (semihosting text, QEMU errors)
    wall_s: float  # wall time from QEMU start to exit


def qemu_command(
    elf: Path,
    board: str = "an386",
    frame_bank: Path | None = None,
    serial_port: int | None = None,
    icount: bool = True,
    semihosting: bool = True,
    gdb_port: int | None = None,
    serial_files: list[Path] | None = None,
) -> list[str]:
    """The qemu-system-arm command line for ``elf`` on ``board`` (a key of BOARDS).

    ``serial_port``: UART0 on a loopback TCP server at that port that waits for one
    client before the guest starts; None puts UART0 on QEMU's stdio instead.
    ``serial_files``: instead, UART0, UART1, ... each written to a file (a backend that
    never makes the guest wait, so instruction counts do not depend on a reader).
    ``frame_bank``: a PKFB file preloaded into RAM at the board's bank address.
    ``gdb_port``: a gdbstub on that loopback port, the guest halted until a debugger
    says continue (``-S``); see host_tools/gdb_rsp.py.
    """
    b = board_info(board)
    cmd = [QEMU, "-machine", b.machine, "-cpu", b.cpu, "-nographic", "-monitor", "none"]
    cmd += ["-kernel", str(elf)]
    if semihosting:
        cmd += ["-semihosting-config", "enable=on,target=native"]
    if icount:
        cmd += ["-icount", "shift=0,align=off,sleep=off"]
    if frame_bank is not None:
        cmd += ["-device", f"loader,file={frame_bank},addr={b.bank_addr:#x},force-raw=on"]
    if gdb_port is not None:
        cmd += ["-gdb", f"tcp:127.0.0.1:{gdb_port}", "-S"]
    if serial_files is not None:
        for path in serial_files:
            cmd += ["-serial", f"file:{path}"]
    elif serial_port is None:
        cmd += ["-serial", "stdio"]
    else:
        cmd += [
            "-chardev",
            f"socket,id=s0,host=127.0.0.1,port={serial_port},server=on,wait=on,nodelay=on",
            "-serial",
            "chardev:s0",
        ]
    return cmd


class EmulatorSession:
    """A running QEMU whose UART0 waits on ``url``; made by :func:`start`."""

    def __init__(self, process: subprocess.Popen[bytes], url: str, log: IO[bytes]) -> None:
        self.process = process
        self.url = url
        self._log = log
        self._serial: serial.SerialBase | None = None

    def open_serial(
        self, timeout: float = POLL_S, connect_timeout_s: float = CONNECT_TIMEOUT_S
    ) -> serial.SerialBase:
        """Connect to the device's serial link, retrying until QEMU listens.

        ``timeout`` is the pyserial read timeout of the returned port. The guest starts
        running on this connection. Raises EmulatorError if QEMU exits first or does not
        listen within ``connect_timeout_s``.
        """
        deadline = time.monotonic() + connect_timeout_s
        while True:
            if self.process.poll() is not None:
                raise EmulatorError(
                    f"QEMU exited with {self.process.returncode} before the serial link "
                    f"was connected:\n{self.log_text()}"
                )
            try:
                self._serial = serial.serial_for_url(self.url, timeout=timeout)
                return self._serial
            except serial.SerialException as exc:
                if time.monotonic() > deadline:
                    raise EmulatorError(
                        f"QEMU did not listen on {self.url} within {connect_timeout_s} s "
                        f"({exc}):\n{self.log_text()}"
                    ) from exc
                time.sleep(0.02)

    def log_text(self) -> str:
        """QEMU's stdout and stderr so far."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def close(self, wait_s: float = 2.0) -> int | None:
        """Close the link, stop QEMU if still running; return its exit code (None if killed)."""
        if self._serial is not None:
            self._serial.close()
            self._serial = None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            return None
        return self.process.returncode


@contextlib.contextmanager
def start(
    elf: Path,
    board: str = "an386",
    frame_bank: Path | None = None,
    icount: bool = True,
    semihosting: bool = True,
) -> Iterator[EmulatorSession]:
    """Start QEMU on ``elf`` with UART0 on a free loopback port; stop it on exit.

    Yields an :class:`EmulatorSession` (``.url`` for pyserial, ``.process``). The guest
    does not run until something connects to ``.url`` (e.g. ``session.open_serial()``).
    """
    qemu = shutil.which(QEMU)
    if qemu is None:
        raise EmulatorError(f"{QEMU} not found on PATH: run make setup")
    for path in (elf, frame_bank):
        if path is not None and not Path(path).is_file():
            raise FileNotFoundError(path)
    with tempfile.TemporaryFile() as log:
        port = free_port()
        cmd = qemu_command(
            Path(elf), board, frame_bank, serial_port=port, icount=icount, semihosting=semihosting
        )
        process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        session = EmulatorSession(process, f"socket://127.0.0.1:{port}", log)
        try:
            yield session
        finally:
            session.close()


def run_capture(
    elf: Path, board: str = "an386", frame_bank: Path | None = None, timeout_s: float = 120.0
) -> EmulatorRun:
    """Boot ``elf``, read its serial link until QEMU exits, return what it produced.

    Raises TimeoutError (after killing QEMU) if the firmware has not exited within
    ``timeout_s``; the message says how much was captured and how it ended.
    """
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    chunks: list[bytes] = []
    with start(elf, board, frame_bank) as emu:
        link = emu.open_serial(timeout=POLL_S)
        while True:
            try:
                # Ask for exactly what is buffered, or block (POLL_S) for one byte.
                data = link.read(_pending(link) or 1)
            except serial.SerialException:
                break  # QEMU closed the socket: the guest exited
            if data:
                chunks.append(data)
            elif emu.process.poll() is not None:
                break
            if time.monotonic() > deadline:
                emu.close()
                raise TimeoutError(
                    f"firmware did not exit within {timeout_s} s; captured "
                    f"{_describe(b''.join(chunks))}; QEMU output:\n{emu.log_text()}"
                )
        link.close()
        try:
            exit_code = emu.process.wait(timeout=max(0.5, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            emu.close()
            raise TimeoutError(
                f"QEMU closed the serial link but did not exit within {timeout_s} s; "
                f"captured {_describe(b''.join(chunks))}"
            ) from None
        return EmulatorRun(
            capture=b"".join(chunks),
            exit_code=exit_code,
            stderr=emu.log_text(),
            wall_s=time.monotonic() - t0,
        )


def board_info(name: str) -> Board:
    """The Board entry for ``name``; ValueError names the known boards."""
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; known: {', '.join(BOARDS)}") from None


def _pending(link: serial.SerialBase) -> int:
    """Bytes readable right now without blocking.

    pyserial's socket:// ``in_waiting`` says only 0 or 1, and its ``read(n)`` drops the
    bytes it already received when it meets end-of-stream in the same call (it raises).
    So ask the kernel (FIONREAD) for the exact count wherever there is a descriptor;
    reading exactly that many never runs into the end of the stream.
    """
    try:
        raw = fcntl.ioctl(link.fileno(), termios.FIONREAD, b"\0\0\0\0")
        return int(struct.unpack("i", raw)[0])
    except (AttributeError, NotImplementedError, OSError, ValueError):
        return int(link.in_waiting)


def section_sizes(elf: Path) -> dict[str, int]:
    """Section name -> bytes, from `arm-none-eabi-size -A`."""
    out = subprocess.run(
        ["arm-none-eabi-size", "-A", str(elf)], capture_output=True, text=True, check=True
    ).stdout
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].startswith(".") and parts[1].isdigit():
            sizes[parts[0]] = int(parts[1])
    return sizes


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (QEMU binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _describe(data: bytes) -> str:
    head = data[:32].hex(" ")
    return f"{len(data)} bytes" + (f" (first: {head})" if data else "")
