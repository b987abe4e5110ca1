"""Run a whole privacy audit against a device, emulated or real.

    from host_tools.hil_audit import AuditConfig, EmulatorTarget, run_audit

    target = EmulatorTarget("build-prod/peekless.elf", board="an386")
    report = run_audit(target, AuditConfig(frames=32, model=tflite, manifest=manifest))
    print(report.meta["statement"])
    write_outputs(report, json_path="audit.json", junit_path="audit.xml")

The audit's definition (docs/HIL_AUDIT.md): the image is run twice, on frame sequences
that differ in pixels but have the same reference decision at every position, and
everything an observer can see -- every byte on every UART, when it leaves, all
writable memory after every frame -- must be identical between the runs, and every
decision must equal the reference. :class:`EmulatorTarget` runs the shipped
(production) image on two QEMUs in lockstep (:mod:`host_tools.noninterference`);
:class:`SerialTarget` runs a real board twice over any pyserial URL, with a
:class:`Rig` (a JSON/YAML description of the user's flasher, bank loader, reset and
gdbserver commands) to load each bank and reset the board. The serial path is tested
against simulated devices and QEMU's gdbstub only, never on hardware.

This module also keeps the plain device utilities the CLI and the pytest plugin use:
:meth:`EmulatorTarget.open` boots a HIL image with a preloaded frame bank and gives a
:class:`~host_tools.session.DeviceSession` on its serial link.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shlex
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import serial

from . import emulator
from .audit import AuditReport
from .checkpoints import (
    CHECKPOINT_SYMBOL,
    CheckpointReader,
    elf_symbols,
    ram_regions,
    symbol_address,
)
from .frame_bank import HEADER_SIZE, write_frame_bank
from .noninterference.emulated import DEFAULT_FRAMES
from .noninterference.sequential import DEFAULT_TIMING_BOUND_S
from .protocol import Decision, Hello, Record
from .session import DeviceReset, DeviceSession, LinkError, connect

ProgressFn = Callable[[Record], None]


class AuditError(RuntimeError):
    """The audit could not be run at all (bad configuration, no device)."""


# --------------------------------------------------------------------------- runs


@dataclass
class DeviceRun:
    """What one run of a frame bank on a device produced."""

    capture: bytes
    arrivals: list[tuple[int, float]]
    records: list[Record]
    hello: Hello | None
    wall_s: float
    error: str | None = None  # why the run did not end with BYE, if it did not
    exit_code: int | None = None
    log: str = ""
    snapshots: list = field(default_factory=list)
    ram_note: str = ""
    resets: list[int] = field(default_factory=list)
    resumed_at: dict[int, float] = field(default_factory=dict)  # see CheckpointReader

    @property
    def decisions(self) -> int:
        return sum(isinstance(r, Decision) for r in self.records)


def _read_run(
    session: DeviceSession, n_frames: int, timeout_s: float, progress: ProgressFn | None
) -> tuple[str | None, float]:
    """Read HELLO .. BYE from ``session``; returns (error text or None, seconds)."""
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    error = None
    try:
        session.expect_hello(timeout_s=min(timeout_s, 10.0))
        while True:
            try:
                session.read_until_bye(max(0.0, deadline - time.monotonic()), on_record=progress)
                break
            except DeviceReset:
                continue  # recorded in session.resets; the audit sees the second HELLO
        session.drain(idle_s=0.2, timeout_s=2.0)
    except LinkError as e:
        error = f"{type(e).__name__}: {e}"
    return error, time.monotonic() - t0


class _Qemu:
    """One QEMU process with its output in a temporary file; killed on exit."""

    def __init__(self, cmd: list[str]) -> None:
        self.cmd = cmd
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in __exit__)
        try:
            self.process = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log
            )
        except FileNotFoundError as e:
            self._log.close()
            raise AuditError(f"{cmd[0]} not found: install qemu-system-arm (make setup)") from e

    def __enter__(self) -> _Qemu:  # noqa: PYI034 (py3.10: no typing.Self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()

    def connect(self, url: str, timeout_s: float = 5.0) -> serial.SerialBase:
        """The serial link, retried until QEMU listens (the guest starts on it)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise AuditError(
                    f"QEMU exited with {self.process.returncode} before the "
                    f"serial link was connected:\n{self.log_text()}"
                )
            try:
                return serial.serial_for_url(url, timeout=0.05)
            except serial.SerialException as e:
                if time.monotonic() > deadline:
                    raise AuditError(
                        f"QEMU did not listen on {url} within {timeout_s} s "
                        f"({e}):\n{self.log_text()}"
                    ) from e
                time.sleep(0.02)

    def wait(self, timeout_s: float) -> int | None:
        """QEMU's exit status (the firmware's semihosting exit code), or None if it is
        still running after ``timeout_s``."""
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def log_text(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")


def _continue_in_background(port: int) -> threading.Thread:
    """Tell a halted gdbstub to continue, from a daemon thread that then waits for the
    target to stop or exit (it ends when QEMU closes the connection)."""

    def run() -> None:
        from .gdb_rsp import GdbClient, GdbError

        try:
            with GdbClient.connect(port, timeout_s=24 * 3600.0) as gdb:
                gdb.cont()
        except (GdbError, OSError):
            pass

    thread = threading.Thread(target=run, name="peekless-continue", daemon=True)
    thread.start()
    return thread


class EmulatorTarget:
    """Boots ``elf`` in QEMU on ``board`` for every run, with the frames preloaded."""

    def __init__(
        self,
        elf: str | os.PathLike[str],
        board: str = "an386",
        workdir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.elf = Path(elf)
        if not self.elf.is_file():
            raise AuditError(f"{self.elf}: no such ELF")
        if board not in emulator.BOARDS:
            raise AuditError(f"unknown board {board!r}; known: {', '.join(emulator.BOARDS)}")
        self.board = board
        # Where the audit's QEMUs keep their RAM and UART files (None: a fresh folder
        # on tmpfs per audit, removed after it).
        self.scratch = Path(workdir) / "audit" if workdir is not None else None
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="peekless-audit-")
            workdir = self._tmp.name
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.checkpoint_addr: int | None = symbol_address(self.elf, CHECKPOINT_SYMBOL)
        except (KeyError, ValueError):
            self.checkpoint_addr = None

    @property
    def name(self) -> str:
        return f"QEMU {emulator.BOARDS[self.board].machine} running {self.elf}"

    @property
    def can_read_ram(self) -> bool:
        return self.checkpoint_addr is not None

    @property
    def bank_capacity(self) -> int:
        """Bytes of the board's frame-bank window (header included)."""
        return int(getattr(emulator.BOARDS[self.board], "bank_bytes", 16 << 20))

    def ram_unavailable_reason(self) -> str:
        return f"{self.elf.name} has no {CHECKPOINT_SYMBOL} symbol (not a HIL build)"

    @contextlib.contextmanager
    def open(
        self, frames: np.ndarray, label: str = "run", gdb: bool = False
    ) -> Iterator[tuple[DeviceSession, _Qemu, int | None]]:
        """QEMU with ``frames`` in its bank; yields (session, qemu, gdb port or None).

        The guest is started halted (``-S``) and continued over the gdbstub only once
        the serial link is open: pyserial's socket:// open discards bytes that arrived
        before it completed, which could otherwise swallow the HELLO. With ``gdb`` the
        caller continues it (:class:`~host_tools.checkpoints.CheckpointReader`)."""
        need = HEADER_SIZE + frames.size
        if need > self.bank_capacity:
            raise AuditError(
                f"a bank of {len(frames)} frames ({need} bytes) does not fit the "
                f"{self.bank_capacity}-byte frame-bank window of {self.board}"
            )
        bank = write_frame_bank(self.workdir / f"{label}.pkfb", frames)
        serial_port, gdb_port = emulator.free_port(), emulator.free_port()
        cmd = emulator.qemu_command(
            self.elf, self.board, bank, serial_port=serial_port, gdb_port=gdb_port
        )
        with _Qemu(cmd) as qemu:
            url = f"socket://127.0.0.1:{serial_port}"
            with DeviceSession(port=qemu.connect(url)) as session:
                session.url = url
                if not gdb:
                    _continue_in_background(gdb_port)
                yield session, qemu, gdb_port if gdb else None

    def run(
        self,
        frames: np.ndarray,
        *,
        ram: bool = False,
        progress: ProgressFn | None = None,
        timeout_s: float = 60.0,
        label: str = "run",
    ) -> DeviceRun:
        ram = ram and self.can_read_ram
        t0 = time.monotonic()
        with self.open(frames, label, gdb=ram) as (session, emu, gdb_port):
            reader = None
            note = ""
            if ram:
                b = emulator.BOARDS[self.board]
                regions = ram_regions(b.ram, b.bank_addr, frames[0].size, len(frames))
                reader = CheckpointReader(
                    gdb_port,
                    self.checkpoint_addr,
                    regions,
                    timeout_s=max(30.0, timeout_s),
                )
                reader.start()
                if not reader.wait_ready(10.0) or reader.error:
                    note = reader.error or "the gdbstub did not answer within 10 s"
            error, _ = _read_run(session, len(frames), timeout_s, progress)
            exit_code = emu.wait(5.0)
            if error and exit_code:
                log = emu.log_text().strip().splitlines()
                error += f"; QEMU exited with {exit_code}" + (f": {log[-1]}" if log else "")
            if reader is not None:
                if exit_code is None:
                    reader.stop()
                reader.join(5.0)
                note = note or reader.error or ""
                note = (note + "; " if note else "") + (
                    f"{reader.checkpoints} checkpoints hit, {len(reader.snapshots)} "
                    f"snapshots, {reader.read_bytes} bytes read in {reader.read_s:.2f} s"
                )
            return DeviceRun(
                capture=session.capture,
                arrivals=list(session.arrivals),
                records=list(session.records),
                hello=session.hello,
                wall_s=time.monotonic() - t0,
                error=error,
                exit_code=exit_code,
                log=emu.log_text(),
                snapshots=list(reader.snapshots) if reader else [],
                resumed_at=dict(reader.resumed_at) if reader else {},
                ram_note=note,
                resets=list(session.resets),
            )


# --------------------------------------------------------------------------- real boards


class RigError(RuntimeError):
    """A rig command failed or the rig description is wrong."""


@dataclass
class Rig:
    """A test rig described as data (JSON, or YAML when PyYAML is installed):

    .. code-block:: json

        {"name": "my-board", "port": "/dev/ttyACM0", "baudrate": 115200,
         "board": "my-board", "bank_addr": "0x20040000",
         "ram": [["0x20000000", "0x50000"]], "gdb": "127.0.0.1:3333",
         "commands": {
           "flash": "pyocd flash -t stm32f746zg {elf}",
           "load_bank": "pyocd load -t stm32f746zg --base-address {bank_addr} {bank}",
           "reset": "pyocd reset -t stm32f746zg"}}

    Command templates are split like a shell would (no shell runs them) and each word is
    formatted with ``{elf}``, ``{bank}``, ``{bank_addr}``, ``{port}`` and the rig's
    other string fields.
    """

    name: str = "rig"
    port: str | None = None
    baudrate: int = 115200
    board: str | None = None
    bank_addr: int | None = None
    bank_bytes: int | None = None  # size of the bank window: longer audits use more boots
    ram: tuple[tuple[int, int], ...] = ()
    gdb: str | None = None
    cycle_counter: int | None = None  # e.g. 0xE0001004 (DWT_CYCCNT), read at checkpoints
    commands: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 120.0

    @classmethod
    def from_dict(cls, d: dict) -> Rig:
        def num(v):
            return int(v, 0) if isinstance(v, str) else int(v)

        known = {
            "name",
            "port",
            "baudrate",
            "board",
            "bank_addr",
            "bank_bytes",
            "ram",
            "gdb",
            "cycle_counter",
            "commands",
            "timeout_s",
        }
        extra = set(d) - known
        if extra:
            raise RigError(f"rig: unknown keys {sorted(extra)}; known: {sorted(known)}")
        commands = d.get("commands", {})
        if not isinstance(commands, dict) or not all(isinstance(v, str) for v in commands.values()):
            raise RigError("rig: commands must map names to command strings")
        return cls(
            name=str(d.get("name", "rig")),
            port=d.get("port"),
            baudrate=int(d.get("baudrate", 115200)),
            board=d.get("board"),
            bank_addr=None if d.get("bank_addr") is None else num(d["bank_addr"]),
            bank_bytes=None if d.get("bank_bytes") is None else num(d["bank_bytes"]),
            ram=tuple((num(a), num(n)) for a, n in d.get("ram", ())),
            gdb=d.get("gdb"),
            cycle_counter=None if d.get("cycle_counter") is None else num(d["cycle_counter"]),
            commands=dict(commands),
            timeout_s=float(d.get("timeout_s", 120.0)),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Rig:
        path = Path(path)
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError as e:
                raise RigError(
                    f"{path}: YAML rig files need PyYAML (pip install pyyaml), "
                    f"or write the rig as JSON"
                ) from e
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
        if not isinstance(data, dict):
            raise RigError(f"{path}: want a mapping at the top level")
        return cls.from_dict(data)

    def command(self, name: str, **values: object) -> list[str]:
        """The argv of command ``name`` with the placeholders filled in."""
        if name not in self.commands:
            raise RigError(
                f"rig {self.name!r} has no {name!r} command "
                f"(has: {', '.join(sorted(self.commands)) or 'none'})"
            )
        fields = {
            "port": self.port or "",
            "board": self.board or "",
            "name": self.name,
            "bank_addr": f"0x{self.bank_addr:x}" if self.bank_addr is not None else "",
        }
        fields.update({k: str(v) for k, v in values.items()})
        try:
            return [word.format(**fields) for word in shlex.split(self.commands[name])]
        except KeyError as e:
            raise RigError(f"rig command {name!r}: unknown placeholder {e}") from None

    def run(self, name: str, dry_run: bool = False, **values: object) -> list[str]:
        """Run command ``name``; raises RigError with its output if it fails or overruns
        ``timeout_s``. Returns the argv."""
        argv = self.command(name, **values)
        if dry_run:
            return argv
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=self.timeout_s, check=False
            )
        except FileNotFoundError as e:
            raise RigError(f"rig command {name!r}: {argv[0]} not found") from e
        except subprocess.TimeoutExpired as e:
            raise RigError(
                f"rig command {name!r} did not finish within {self.timeout_s} s: {shlex.join(argv)}"
            ) from e
        if proc.returncode != 0:
            raise RigError(
                f"rig command {name!r} failed ({proc.returncode}): {shlex.join(argv)}"
                f"\n{proc.stdout}{proc.stderr}"
            )
        return argv


class SerialTarget:
    """A device on a pyserial URL. With a :class:`Rig` that has ``load_bank`` and
    ``reset`` commands, each run loads its frame bank and resets the board; without one,
    the device is assumed to be already running the bank it is given and the run just
    listens from its HELLO to its BYE. RAM read-back needs the rig's ``gdb`` address
    (a gdbserver: pyOCD, OpenOCD) and the HIL ELF."""

    def __init__(
        self,
        url: str,
        rig: Rig | None = None,
        elf: str | os.PathLike[str] | None = None,
        baudrate: int | None = None,
        workdir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.url = url
        self.rig = rig
        self.elf = Path(elf) if elf else None
        self.baudrate = baudrate or (rig.baudrate if rig else 115200)
        self.board = rig.board if rig and rig.board else "unknown"
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="peekless-audit-")
            workdir = self._tmp.name
        self.workdir = Path(workdir)
        self.checkpoint_addr = None
        if self.elf is not None:
            try:
                self.checkpoint_addr = symbol_address(self.elf, CHECKPOINT_SYMBOL)
            except (KeyError, ValueError, OSError):
                pass

    @property
    def name(self) -> str:
        return f"device on {self.url}" + (f" (rig {self.rig.name})" if self.rig else "")

    @property
    def bank_capacity(self) -> int | None:
        return self.rig.bank_bytes if self.rig is not None else None

    @property
    def can_read_ram(self) -> bool:
        return bool(
            self.rig
            and self.rig.gdb
            and self.rig.ram
            and self.rig.bank_addr is not None
            and self.checkpoint_addr is not None
        )

    def ram_unavailable_reason(self) -> str:
        if self.checkpoint_addr is None:
            return "no HIL ELF with a pk_hil_checkpoint symbol given (--elf)"
        return "the rig gives no gdbserver address, RAM map or bank address"

    @contextlib.contextmanager
    def open(
        self, frames: np.ndarray, label: str = "run", gdb: bool = False
    ) -> Iterator[tuple[DeviceSession, None, None]]:
        bank = write_frame_bank(self.workdir / f"{label}.pkfb", frames)
        if self.rig is not None and "load_bank" in self.rig.commands:
            self.rig.run("load_bank", bank=bank)
        with connect(self.url, baudrate=self.baudrate) as session:
            if self.rig is not None and "reset" in self.rig.commands:
                self.rig.run("reset")
            yield session, None, None

    def run(
        self,
        frames: np.ndarray,
        *,
        ram: bool = False,
        progress: ProgressFn | None = None,
        timeout_s: float = 60.0,
        label: str = "run",
    ) -> DeviceRun:
        t0 = time.monotonic()
        ram = ram and self.can_read_ram
        bank = write_frame_bank(self.workdir / f"{label}.pkfb", frames)
        if self.rig is not None and "load_bank" in self.rig.commands:
            self.rig.run("load_bank", bank=bank)
        reader = None
        try:
            session_cm = connect(self.url, baudrate=self.baudrate)
        except (serial.SerialException, OSError) as e:
            return DeviceRun(b"", [], [], None, time.monotonic() - t0,
                             error=f"could not open {self.url}: {e}")  # fmt: skip
        with session_cm as session:
            if ram:
                host, _, port = self.rig.gdb.rpartition(":")
                regions = ram_regions(self.rig.ram, self.rig.bank_addr, frames[0].size, len(frames))
                reader = CheckpointReader(
                    int(port),
                    self.checkpoint_addr,
                    regions,
                    host=host or "127.0.0.1",
                    cycle_counter=self.rig.cycle_counter,
                )
                reader.start()
                reader.wait_ready(10.0)
            if self.rig is not None and "reset" in self.rig.commands:
                self.rig.run("reset")
            error, _ = _read_run(session, len(frames), timeout_s, progress)
        note = ""
        if reader is not None:
            reader.stop()
            reader.join(5.0)
            note = reader.error or f"{len(reader.snapshots)} snapshots"
        return DeviceRun(
            capture=session.capture,
            arrivals=list(session.arrivals),
            records=list(session.records),
            hello=session.hello,
            wall_s=time.monotonic() - t0,
            error=error,
            snapshots=list(reader.snapshots) if reader else [],
            resumed_at=dict(reader.resumed_at) if reader else {},
            ram_note=note,
            resets=list(session.resets),
        )


@contextlib.contextmanager
def open_emulator(
    elf: str | os.PathLike[str], frames: np.ndarray, board: str = "an386"
) -> Iterator[DeviceSession]:
    """Boot ``elf`` in QEMU on ``board`` with ``frames`` in its frame bank and give back a
    :class:`~host_tools.session.DeviceSession` on its serial link (the HELLO not yet read);
    QEMU is stopped when the block ends.

        with open_emulator("build/peekless.elf", frames) as dev:
            hello = dev.expect_hello(timeout_s=5)
            records = dev.read_until_bye(timeout_s=60)
    """
    with EmulatorTarget(elf, board=board).open(frames, label="session") as (session, _, _):
        yield session


def make_target(
    port: str | None = None,
    board: str | None = None,
    elf: str | os.PathLike[str] | None = None,
    rig: Rig | str | os.PathLike[str] | None = None,
    workdir: str | os.PathLike[str] | None = None,
):
    """The target the options describe: a real device on ``port`` (with an optional rig
    and the HIL ``elf`` for RAM read-back), or ``elf`` emulated on ``board``. Used by the
    CLI and the pytest plugin; raises AuditError when the options do not name one."""
    if rig is not None and not isinstance(rig, Rig):
        rig = Rig.load(rig)
    if port:
        return SerialTarget(port, rig=rig, elf=elf, workdir=workdir)
    if rig is not None and rig.port:
        return SerialTarget(rig.port, rig=rig, elf=elf, workdir=workdir)
    if elf is None:
        raise AuditError("no device: give a serial port URL, or an ELF and a board to emulate")
    return EmulatorTarget(elf, board=board or "an386", workdir=workdir)


# --------------------------------------------------------------------------- configuration


def frame_shape_from_elf(elf: str | os.PathLike[str]) -> tuple[int, int, int] | None:
    """The model input shape: the ``input_shape`` of the build manifest beside the ELF,
    else guessed from the size of an older firmware's ``model_input`` buffer (square
    inputs: s*s gray or s*s*3 RGB; streaming firmware has no such buffer). None when it
    cannot be told."""
    manifest = Path(elf).with_name("build_manifest.json")
    try:
        shape = json.loads(manifest.read_text())["input_shape"]
        if len(shape) == 3:
            return (int(shape[0]), int(shape[1]), int(shape[2]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    try:
        size = elf_symbols(Path(elf))["model_input"][1]
    except (KeyError, ValueError, OSError):
        return None
    for c in (1, 3):
        side = math.isqrt(size // c)
        if size and side * side * c == size:
            return (side, side, c)
    return None


def hello_manifest(manifest: dict | None) -> dict | None:
    """The HELLO expectations of a manifest: a build manifest written by
    :mod:`host_tools.firmware_build` is converted; any other dict is taken as is."""
    if manifest is None:
        return None
    if "output_schema" in manifest or "elf_sha256" in manifest:
        from .firmware_build import hello_expectations

        return hello_expectations(manifest)
    return dict(manifest)


@dataclass
class AuditConfig:
    """How to audit (docs/HIL_AUDIT.md).

    ``frames``: canary frames per run (runs A and B see the same frames in two orders).
    ``model``: the .tflite the firmware was built from: the reference decisions, and the
    pairing of run B, come from it (required on the emulator). ``manifest``: the build
    manifest the HELLO must match (its ``decision_rule`` is the reference's rule).
    ``camera``: (width, height, pixel format) of the frames a production image is shown
    (default: the manifest's ``camera``, else QVGA RGB565). Real boards only:
    ``production_elf`` (the shipped ELF the audited one must equal but for
    ``declared_objects``) and ``timing_bound_s`` (host-timestamp tolerance)."""

    frames: int = DEFAULT_FRAMES
    seed: int = 0
    model: Path | None = None
    manifest: dict | None = None
    camera: tuple[int, int, int] | None = None
    shape: tuple[int, int, int] | None = None  # model input (h, w, c); default: manifest/ELF
    kinds: tuple[str, ...] | None = None
    timeout_s: float | None = None  # emulator: per stop (default 60 s); serial: per run
    progress: bool = False
    locate_timing: bool = True  # emulator: on a timing difference, name the code behind it
    production_elf: Path | None = None
    declared_objects: tuple[str, ...] = ()
    timing_bound_s: float = DEFAULT_TIMING_BOUND_S


def run_audit(target, config: AuditConfig | None = None) -> AuditReport:
    """Audit ``target``: an :class:`EmulatorTarget` (runs A and B in lockstep on two
    QEMUs, :mod:`host_tools.noninterference.emulated`) or a :class:`SerialTarget` (a real
    board, runs A then B, :mod:`host_tools.noninterference.sequential`)."""
    config = config or AuditConfig()
    if config.frames < 2:
        raise AuditError(f"frames: want at least 2 (runs A and B swap frames), got {config.frames}")
    manifest = config.manifest
    if isinstance(target, EmulatorTarget):
        from .noninterference.emulated import AuditSetupError, EmulatedAudit, audit_emulated

        try:
            return audit_emulated(
                EmulatedAudit(
                    target.elf,
                    target.board,
                    manifest,
                    config.model,
                    frames=config.frames,
                    seed=config.seed,
                    camera=config.camera,
                    kinds=config.kinds,
                    timeout_s=config.timeout_s or 60.0,
                    progress=config.progress,
                    workdir=target.scratch,
                    locate_timing=config.locate_timing,
                )
            )
        except AuditSetupError as e:
            raise AuditError(str(e)) from e
    from .noninterference.sequential import audit_sequential

    shape = config.shape
    if shape is None and manifest and manifest.get("input_shape"):
        shape = tuple(int(x) for x in manifest["input_shape"])[-3:]
    if shape is None and getattr(target, "elf", None) is not None:
        shape = frame_shape_from_elf(target.elf)
    if shape is None:
        raise AuditError(
            "frame shape unknown: give --shape HxWxC (or a manifest with input_shape, or the ELF)"
        )
    return audit_sequential(target, config, manifest, shape)


def write_outputs(
    report: AuditReport,
    json_path: str | os.PathLike[str] | None = None,
    junit_path: str | os.PathLike[str] | None = None,
) -> None:
    """Write the report as JSON and/or JUnit XML (their paths go into ``report.meta``,
    so the summary names them)."""
    if json_path:
        report.meta["report_json"] = str(json_path)
    if junit_path:
        report.meta["report_junit"] = str(junit_path)
    if json_path:
        Path(json_path).write_text(json.dumps(report.to_json(), indent=1) + "\n")
    if junit_path:
        from .junit import write_junit

        write_junit(report, junit_path)
