"""Feed camera frames to a production image on the emulator, through its emulated sensor.

The production image has no frame bank and no input path: its camera driver reads the
emulated sensor of docs/SENSOR.md, a window of board memory outside the image. This is
the host side. QEMU starts halted with a gdbstub; a breakpoint on
``pk_hal_camera_begin`` (a function of every production image) stops the core at every
frame boundary, where the host writes the next frame into the window (rows, header,
READY last) over the GDB remote protocol (host_tools/gdb_rsp.py) and continues.

    with SensorFeeder(elf, board="an386") as dev:      # boots to the first frame
        for frame in frames:
            stop = dev.next_frame(frame, "rgb565", 320, 240)
            # frame processed, its decision on UART0, its buffers wiped:
            dev.serial()                # every byte UART0 sent so far
            dev.read_memory(0x20000000, 4096)
            stop.instructions           # instructions executed since power-on

Every UART goes to a file (``-serial file:``), a backend that never makes the guest
wait, and QEMU runs with ``-icount shift=0``. Instruction counts come from QEMU itself
(QMP ``query-replay``: the raw count of executed instructions), not from the board's
timers: a debugger stop lets QEMU's virtual clock jump (to the next timer deadline with
``sleep=off``, by the real time stopped with ``sleep=on``), so a guest timer read across
stops depends on the host; the executed-instruction count does not. They are
instructions, not cycles.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from host_tools.checkpoints import elf_symbols
from host_tools.emulator import QEMU, Board, EmulatorError, board_info, free_port, qemu_command
from host_tools.frame_bank import FORMAT_BYTES, FORMAT_NAMES
from host_tools.frame_bank import format_code as _bank_format_code
from host_tools.gdb_rsp import GdbClient, GdbError
from host_tools.qmp import QmpClient

# docs/SENSOR.md, "The window": little-endian u32 words at these offsets.
MAGIC = 0x4E534B50  # "PKSN"
VERSION = 1
HEADER_BYTES = 0x40
READY_OFFSET = 0x1C
BEGIN_SYMBOL = "pk_hal_camera_begin"  # the host's frame boundary
EXIT_SYMBOL = "pk_hal_exit"  # a production image halts here on any error
LINE_SYMBOL = "camera_line"  # the app's line buffer: the widest row it takes
# training/camera_preprocess.py's codes and the firmware's PK_PIXFMT_* (the frame bank's).
FORMATS = {name.lower(): code for code, name in FORMAT_NAMES.items()}
BYTES_PER_PIXEL = dict(FORMAT_BYTES)


class SensorError(RuntimeError):
    """The feeder cannot go on: a bad frame, an image without the sensor, or a device that
    stopped coming back to ``pk_hal_camera_begin``."""


class DeviceHalted(SensorError):
    """The device called ``pk_hal_exit(status)``: a production image halts there on any
    error (exit statuses: firmware/app/pk_hal.h)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class FrameStop:
    """The device stopped at ``pk_hal_camera_begin``: ``frames`` frames were offered and
    processed before this stop (their decisions sent, their buffers wiped)."""

    frames: int
    instructions: int  # executed since power-on (QEMU's count; exact under -icount)


def format_code(fmt: int | str) -> int:
    """A pixel format code from a code or a name ("gray8", "rgb888", "rgb565", "yuyv")."""
    try:
        return _bank_format_code(fmt)
    except ValueError:
        raise SensorError(f"unknown pixel format {fmt!r}; known: {', '.join(FORMATS)}") from None


def check_frame(
    frame: bytes,
    width: int,
    height: int,
    fmt: int | str,
    pitch: int | None = None,
    *,
    window_bytes: int | None = None,
    line_bytes: int | None = None,
    what: str = "frame",
) -> tuple[int, int]:
    """(format code, pitch) of a frame the firmware can take; SensorError otherwise.

    ``window_bytes``: the board's sensor window (Board.bank_bytes); ``line_bytes``: the
    image's camera line buffer (the size of its ``camera_line`` symbol)."""
    code = format_code(fmt)
    row = width * BYTES_PER_PIXEL[code]
    pitch = row if pitch is None else pitch
    what = f"{what} ({width}x{height}, format {code})"
    if not (0 < width <= 0xFFFF and 0 < height <= 0xFFFF):
        raise SensorError(f"{what}: width and height must be 1..65535")
    if code == FORMATS["yuyv"] and width % 2:
        raise SensorError(f"{what}: YUYV needs an even width")
    if len(frame) != row * height:
        raise SensorError(f"{what}: {len(frame)} bytes, want {row * height}")
    if pitch < row:
        raise SensorError(f"{what}: pitch {pitch} is shorter than a row ({row} bytes)")
    if line_bytes is not None and row > line_bytes:
        raise SensorError(
            f"{what}: a row is {row} bytes, the firmware's camera line buffer "
            f"{line_bytes} (firmware/app/pk_config.h, PK_CAMERA_LINE_BYTES)"
        )
    if window_bytes is not None and HEADER_BYTES + pitch * height > window_bytes:
        raise SensorError(
            f"{what}: {pitch * height} bytes do not fit the sensor window "
            f"({window_bytes - HEADER_BYTES} bytes)"
        )
    return code, pitch


def offer_frame(
    link: GdbClient,
    window_addr: int,
    frame_index: int,
    frame: bytes,
    width: int,
    height: int,
    pixfmt: int | str,
    pitch: int | None = None,
    *,
    window_bytes: int | None = None,
    line_bytes: int | None = None,
) -> None:
    """Write one frame into the sensor window at ``window_addr`` through ``link`` (any
    object with ``read_memory(addr, n)`` and ``write_memory(addr, data)``, e.g. a
    :class:`GdbClient`), the core being stopped at ``pk_hal_camera_begin``: rows first,
    then the header, READY last (docs/SENSOR.md). Checks the frame (:func:`check_frame`)
    and that the window's header is zero, as the driver leaves it, before writing."""
    what = f"frame {frame_index}"
    code, pitch = check_frame(frame, width, height, pixfmt, pitch, window_bytes=window_bytes,
                              line_bytes=line_bytes, what=what)  # fmt: skip
    if any(link.read_memory(window_addr, HEADER_BYTES)):
        raise SensorError(
            f"{what}: the sensor window's header is not zero at the frame boundary: the "
            "firmware did not take or clear the previous frame"
        )
    row = width * BYTES_PER_PIXEL[code]
    if pitch == row:
        rows = frame
    else:
        pad = bytes(pitch - row)
        rows = b"".join(frame[y * row : (y + 1) * row] + pad for y in range(height))
    link.write_memory(window_addr + HEADER_BYTES, rows)
    words = struct.pack("<7I", MAGIC, VERSION, frame_index, width, height, code, pitch)
    link.write_memory(window_addr, words)
    link.write_memory(window_addr + READY_OFFSET, struct.pack("<I", 1))  # READY last


class SensorFeeder:
    """One production image on the emulator, driven frame by frame through its sensor.

    ``workdir``: where the UART files go (default: a temporary folder removed on close).
    ``timeout_s``: the longest a frame may take, from continue to the next stop.
    """

    def __init__(
        self,
        elf: Path,
        board: str = "an386",
        workdir: Path | None = None,
        timeout_s: float = 60.0,
        icount: bool = True,
    ) -> None:
        self.elf = Path(elf)
        self.board: Board = board_info(board)
        self.board_name = board
        self.timeout_s = timeout_s
        self.icount = icount
        if not self.elf.is_file():
            raise FileNotFoundError(self.elf)
        symbols = elf_symbols(self.elf)
        if BEGIN_SYMBOL not in symbols:
            raise SensorError(f"{self.elf.name} has no {BEGIN_SYMBOL}: not a Peekless image")
        if "pk_hil_checkpoint" in symbols:
            raise SensorError(
                f"{self.elf.name} is a HIL image (its camera is the frame bank); the sensor "
                "feeds production images"
            )
        self._symbols = symbols
        self._begin = symbols[BEGIN_SYMBOL][0] & ~1
        self._exit = symbols[EXIT_SYMBOL][0] & ~1 if EXIT_SYMBOL in symbols else None
        self._line_bytes = symbols[LINE_SYMBOL][1] if LINE_SYMBOL in symbols else None
        self._tmp = None if workdir is not None else tempfile.TemporaryDirectory()
        self.workdir = Path(workdir if workdir is not None else self._tmp.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.uart_files = [self.workdir / f"uart{i}.bin" for i in range(self.board.uarts)]
        self._watches: dict[int, tuple[str, Callable[[SensorFeeder], None]]] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._log = None
        self._gdb: GdbClient | None = None
        self._qmp: QmpClient | None = None
        self.frames = 0  # frames offered so far

    # ---- life cycle ------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> FrameStop:
        """Start QEMU halted, break on ``pk_hal_camera_begin``, boot to the first stop."""
        if shutil.which(QEMU) is None:
            raise EmulatorError(f"{QEMU} not found on PATH: run make setup")
        port = free_port()
        qmp_path = self.workdir / "qmp.sock"
        cmd = qemu_command(
            self.elf, self.board_name, serial_port=None, icount=self.icount, semihosting=False,
            gdb_port=port, serial_files=self.uart_files,
        ) + ["-qmp", f"unix:{qmp_path},server=on,wait=off"]  # fmt: skip
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - open as long as QEMU runs
        self._process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log
        )
        try:
            self._gdb = GdbClient.connect(port, timeout_s=self.timeout_s)
            self._qmp = QmpClient.connect(str(qmp_path), timeout_s=self.timeout_s)
            self._gdb.set_breakpoint(self._begin)
            if self._exit is not None:
                self._gdb.set_breakpoint(self._exit)
            for addr in self._watches:
                self._gdb.set_breakpoint(addr)
            return self._run_to_begin("boot")
        except BaseException:
            self.close()
            raise

    def close(self) -> int | None:
        """Stop QEMU; returns its exit status (None if it had to be killed)."""
        if self._gdb is not None:
            self._gdb.close()
            self._gdb = None
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None
        code = None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.kill()
                self._process.wait()
            else:
                code = self._process.returncode
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return code

    # ---- frames ------------------------------------------------------------------------

    def next_frame(
        self,
        frame: bytes | None,
        fmt: int | str = "rgb565",
        width: int = 320,
        height: int = 240,
        pitch: int | None = None,
        timeout_s: float | None = None,
    ) -> FrameStop:
        """Offer one frame and run the device to its next ``pk_hal_camera_begin``.

        ``frame``: ``height`` rows of ``width`` pixels of ``fmt``, tightly packed; None
        offers nothing, so the device takes its built-in test pattern. ``pitch``: bytes
        per row in the window (default: tightly packed). When this returns, the frame
        has been processed, its decision sent and its buffers wiped. Raises SensorError
        for a frame the firmware cannot take, DeviceHalted if the device halted, and
        TimeoutError if it did not come back within ``timeout_s``.
        """
        gdb = self._require()
        if frame is not None:
            offer_frame(gdb, self.board.bank_addr, self.frames, frame, width, height, fmt,
                        pitch, window_bytes=self.board.bank_bytes, line_bytes=self._line_bytes)
        self.frames += 1
        return self._run_to_begin(f"frame {self.frames - 1}", timeout_s)

    def _run_to_begin(self, what: str, timeout_s: float | None = None) -> FrameStop:
        """Continue until the core stops at ``pk_hal_camera_begin``; watched symbols on
        the way call their callbacks."""
        gdb = self._require()
        limit = self.timeout_s if timeout_s is None else timeout_s
        while True:
            reply = gdb.resume()
            if reply is None:
                reply = gdb.wait_stop(limit)
            if reply is None:
                reply = gdb.interrupt()
                pc = gdb.read_register(15)
                raise TimeoutError(
                    f"{self.elf.name} on {self.board_name}: {what} did not reach "
                    f"{BEGIN_SYMBOL} within {limit} s (stopped it at pc {pc:#x}); UART0 "
                    f"sent {len(self.serial())} bytes"
                )
            if not reply.startswith((b"T", b"S")):
                raise SensorError(
                    f"{self.elf.name}: QEMU ended during {what} ({reply.decode(errors='replace')}):"
                    f"\n{self.qemu_log()}"
                )
            pc = gdb.read_register(15)
            if pc == self._begin:
                return FrameStop(self.frames, self.instructions())
            if pc == self._exit:
                status = gdb.read_register(0)
                raise DeviceHalted(
                    f"{self.elf.name} on {self.board_name} halted during {what}: "
                    f"pk_hal_exit({status}) (exit statuses: firmware/app/pk_hal.h)",
                    status,
                )
            if pc in self._watches:
                self._watches[pc][1](self)
                continue
            raise SensorError(f"{self.elf.name}: stopped at pc {pc:#x} during {what}: {reply!r}")

    # ---- observation -------------------------------------------------------------------

    def watch(self, symbol: str, callback: Callable[[SensorFeeder], None]) -> None:
        """Also stop at ``symbol`` (e.g. ``pk_hal_stack_scrub``) and call
        ``callback(feeder)`` there, then go on; frames still end at the next begin."""
        if symbol not in self._symbols:
            raise SensorError(f"{self.elf.name} has no symbol {symbol}")
        self.watch_address(self._symbols[symbol][0] & ~1, callback, symbol)

    def watch_address(
        self, addr: int, callback: Callable[[SensorFeeder], None], name: str = ""
    ) -> None:
        """:meth:`watch` at an instruction address (Thumb bit clear)."""
        self._watches[addr] = (name or f"{addr:#x}", callback)
        if self._gdb is not None:
            self._gdb.set_breakpoint(addr)

    @property
    def gdb(self) -> GdbClient:
        """The debugger connection (the target is stopped between calls)."""
        return self._require()

    def read_memory(self, addr: int, length: int) -> bytes:
        return self._require().read_memory(addr, length)

    def serial(self, uart: int = 0) -> bytes:
        """Every byte UARTn has sent so far (its file)."""
        path = self.uart_files[uart]
        return path.read_bytes() if path.exists() else b""

    def instructions(self) -> int:
        """Instructions the guest has executed since power-on (QMP ``query-replay``): exact
        and the same on every run under ``-icount``, whatever the host's speed."""
        if self._qmp is None:
            raise SensorError("the feeder is not started (use it in a with block)")
        return self._qmp.icount()

    def qemu_log(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def _require(self) -> GdbClient:
        if self._gdb is None:
            raise SensorError("the feeder is not started (use it in a with block)")
        return self._gdb


__all__ = [
    "DeviceHalted",
    "FrameStop",
    "GdbError",
    "SensorError",
    "SensorFeeder",
    "check_frame",
    "format_code",
    "offer_frame",
]
