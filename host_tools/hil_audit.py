"""Run a whole privacy audit against a device, emulated or real.

    from host_tools.hil_audit import AuditConfig, EmulatorTarget, run_audit

    target = EmulatorTarget("build/peekless.elf", board="an386")
    report = run_audit(target, AuditConfig(frames=30, manifest=manifest))
    print(report.summary(findings=True))
    write_outputs(report, json_path="audit.json", junit_path="audit.xml")

What :func:`run_audit` does:

1. generates seeded canary frames (:mod:`host_tools.canaries`) at the model input size;
2. run A: shows them to the device in bank order, capturing every byte it sends (with
   arrival times) and, where the target allows, reading RAM back at each
   ``pk_hil_checkpoint`` (:mod:`host_tools.checkpoints`);
3. run B (differential): shows each position another frame that got the same label in
   run A; the output must be byte-identical;
4. runs every check of :mod:`host_tools.audit` and the production ELF check, and
   returns an :class:`~host_tools.audit.AuditReport` whose ``meta`` holds the run
   facts and the throughput (frames audited per minute of wall time).

Targets: :class:`EmulatorTarget` boots an ELF in QEMU for each run (the frame bank is
preloaded into RAM; QEMU's gdbstub gives RAM access). :class:`SerialTarget` talks to a
real board over any pyserial URL, and uses a :class:`Rig` (a JSON/YAML description of
the user's flasher, bank loader, reset and gdbserver commands) to load each bank and
reset the board; see docs/HIL_AUDIT.md. The serial path is tested against simulated
devices only, never on hardware.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import serial

from . import emulator
from .audit import (
    AuditReport,
    CheckResult,
    Findings,
    capture_checks,
    check_differential,
    check_elf_allowlist,
    check_ram_remnants,
    differential_order,
    labels_from_capture,
    skipped,
)
from .canaries import KINDS, generate_canaries
from .checkpoints import (
    CHECKPOINT_SYMBOL,
    CheckpointReader,
    elf_symbols,
    ram_plan,
    symbol_address,
)
from .frame_bank import HEADER_SIZE, write_frame_bank
from .protocol import Bye, Decision, Hello, Record
from .session import DeviceReset, DeviceSession, LinkError, connect

#: Frames per run above which RAM is snapshotted every k-th frame only (plus the last).
RAM_EVERY_FRAME_UP_TO = 100
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


def _free_port() -> int:
    """A loopback TCP port that was free a moment ago (QEMU binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
        serial_port, gdb_port = _free_port(), _free_port()
        cmd = emulator.qemu_command(self.elf, self.board, bank, serial_port=serial_port)
        cmd += ["-gdb", f"tcp:127.0.0.1:{gdb_port}", "-S"]
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
        ram_every: int = 1,
        recent: int = 4,
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
                plan = ram_plan(self.elf, b.ram, b.bank_addr, frames[0].size, len(frames))
                reader = CheckpointReader(
                    gdb_port,
                    self.checkpoint_addr,
                    plan,
                    ram_every,
                    recent,
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
        ram_every: int = 1,
        recent: int = 4,
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
        with connect(self.url, baudrate=self.baudrate) as session:
            if ram:
                host, _, port = self.rig.gdb.rpartition(":")
                plan = ram_plan(
                    self.elf, self.rig.ram, self.rig.bank_addr, frames[0].size, len(frames)
                )
                reader = CheckpointReader(
                    int(port),
                    self.checkpoint_addr,
                    plan,
                    ram_every,
                    recent,
                    host=host or "127.0.0.1",
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
    """How to audit. ``frames`` canaries of ``shape`` (h, w, c; from the manifest's
    ``input_shape`` or the ELF when None) from ``seed``, or the given ``bank_frames``."""

    frames: int = 30
    seed: int = 0
    shape: tuple[int, int, int] | None = None
    kinds: tuple[str, ...] = KINDS
    bank_frames: np.ndarray | None = None
    manifest: dict | None = None
    window: int = 8
    differential: bool = True
    ram: bool = True
    ram_every: int | None = None  # None: every frame up to 100 frames, then ~100 snapshots
    recent: int = 4
    production_elf: Path | None = None
    timeout_s: float | None = None  # per run; None: 30 s + 2 s per frame
    progress: bool = False
    frames_per_run: int | None = None  # None: as many as the bank window holds


def _make_frames(target, config: AuditConfig) -> tuple[np.ndarray, tuple[str, ...]]:
    if config.bank_frames is not None:
        frames = np.asarray(config.bank_frames)
        if frames.dtype != np.uint8 or frames.ndim != 4:
            raise AuditError(
                f"bank_frames: want uint8 [n, h, w, c], got {frames.dtype} {frames.shape}"
            )
        return frames, ("given",) * len(frames)
    shape = config.shape
    if shape is None and config.manifest and config.manifest.get("input_shape"):
        shape = tuple(int(x) for x in config.manifest["input_shape"])[-3:]
    if shape is None and getattr(target, "elf", None) is not None:
        shape = frame_shape_from_elf(target.elf)
    if shape is None:
        raise AuditError(
            "frame shape unknown: give --shape HxWxC (or a manifest with "
            "input_shape, or the HIL ELF)"
        )
    if config.frames < 1:
        raise AuditError(f"frames: want at least 1, got {config.frames}")
    canaries = generate_canaries(config.frames, *shape, seed=config.seed, kinds=config.kinds)
    return canaries.frames, canaries.kinds


class _Progress:
    """A tqdm bar over the frames of all runs (stderr), or nothing."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, unit="frame", file=sys.stderr, desc="audit", dynamic_ncols=True
            )

    def phase(self, name: str) -> ProgressFn | None:
        if self.bar is None:
            return None
        self.bar.set_description(name)

        def on_record(record: Record) -> None:
            if isinstance(record, Decision):
                self.bar.update(1)

        return on_record

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_audit(target, config: AuditConfig | None = None) -> AuditReport:
    """Audit ``target`` (an :class:`EmulatorTarget` or :class:`SerialTarget`).

    When the frames do not fit the target's frame-bank window at once, they are shown in
    several boots of up to ``frames_per_run`` frames each (each boot is a run A and a
    run B of its own); the checks' results are merged, each finding naming its boot."""
    config = config or AuditConfig()
    t_start = time.monotonic()
    frames, kinds = _make_frames(target, config)
    n = len(frames)
    manifest = hello_manifest(config.manifest)
    per = _frames_per_run(target, frames, config)
    boots = max(1, math.ceil(n / per))
    edges = [round(i * n / boots) for i in range(boots + 1)]  # balanced: sizes differ by <= 1
    bounds = list(itertools.pairwise(edges))
    progress = _Progress(n * (2 if config.differential else 1), config.progress)
    parts: list[tuple[list[CheckResult], DeviceRun, DeviceRun | None]] = []
    try:
        for k, (lo, hi) in enumerate(bounds):
            tag = f" {k + 1}/{len(bounds)}" if len(bounds) > 1 else ""
            parts.append(_audit_boot(target, frames[lo:hi], config, manifest, progress, tag, k))
    finally:
        progress.close()
    if len(parts) == 1:
        checks = parts[0][0]
    else:
        checks = _merge_boots([p[0] for p in parts], bounds)
    t0 = time.perf_counter()
    elf_result = check_elf_allowlist(config.production_elf)
    elf_result.seconds = time.perf_counter() - t0
    checks.append(elf_result)

    runs_a = [p[1] for p in parts]
    runs_b = [p[2] for p in parts if p[2] is not None]
    wall = time.monotonic() - t_start
    device_s = sum(r.wall_s for r in runs_a + runs_b)
    meta = {
        "target": target.name,
        "board": target.board,
        "seed": config.seed,
        "frame_shape": list(frames.shape[1:]),
        "canary_kinds": sorted(set(kinds)),
        "hello": _hello_json(runs_a[0].hello),
        "manifest": manifest,
        "boots": len(bounds),
        "frames_per_boot": per,
        "run_a": _runs_json(runs_a),
        "run_b": _runs_json(runs_b) if runs_b else None,
        "wall_s": round(wall, 3),
        "device_s": round(device_s, 3),
        "frames_per_minute": round(60.0 * n / wall, 1) if wall > 0 else None,
        "throughput_note": "frames audited per minute of wall time, both runs, RAM "
        "read-back and every check included",
    }
    return AuditReport.of(
        checks,
        capture_bytes=sum(len(r.capture) for r in runs_a),
        frames=n,
        window=config.window,
        meta=meta,
    )


def _frames_per_run(target, frames: np.ndarray, config: AuditConfig) -> int:
    """How many frames one boot can be shown: what the bank window holds."""
    n = max(1, len(frames))
    capacity = getattr(target, "bank_capacity", None)
    if config.frames_per_run:
        n = min(n, config.frames_per_run)
    if capacity is not None and frames.size:
        fit = (capacity - HEADER_SIZE) // frames[0].size
        if fit < 1:
            raise AuditError(
                f"one frame of {frames[0].size} bytes does not fit the {capacity}-byte "
                f"frame-bank window of {target.board}"
            )
        n = min(n, fit)
    return n


def _audit_boot(target, frames, config, manifest, progress, tag: str, k: int):
    """Runs A and B of one boot and the checks of that boot's output and RAM."""
    n = len(frames)
    timeout_s = config.timeout_s or 30.0 + 2.0 * n
    ram_every = config.ram_every or max(1, math.ceil(n / RAM_EVERY_FRAME_UP_TO))
    run_a = target.run(
        frames,
        ram=config.ram,
        ram_every=ram_every,
        recent=config.recent,
        progress=progress.phase(f"run A{tag} (canaries)"),
        timeout_s=timeout_s,
        label=f"run_a{k}",
    )
    # A debugger stopping the device at checkpoints perturbs run A's timing, in a
    # pattern tied to frame numbers: time the differential run instead.
    perturbed = bool(run_a.snapshots)
    arrivals = None if perturbed else run_a.arrivals
    checks = capture_checks(run_a.capture, frames, manifest, config.window, arrivals)
    run_b = None
    if config.differential:
        labels = labels_from_capture(run_a.capture)
        order = differential_order(labels, n, config.seed + k)
        run_b = target.run(
            frames[order],
            ram=False,
            progress=progress.phase(f"run B{tag} (differential)"),
            timeout_s=timeout_s,
            label=f"run_b{k}",
        )
        t0 = time.perf_counter()
        diff = check_differential(run_a.capture, run_b.capture, frames, order, labels)
        diff.seconds = time.perf_counter() - t0
        if run_b.error:
            diff.detail += f"; run B: {run_b.error}"
        checks.append(diff)
        if perturbed:
            _retime(checks, run_a, run_b, frames, frames[order])
    else:
        checks.append(skipped("differential", "differential run disabled"))
        if perturbed:
            _retime(checks, run_a, None, frames, None)

    if not config.ram:
        checks.append(skipped("ram_remnants", "RAM read-back disabled"))
    elif not target.can_read_ram:
        checks.append(skipped("ram_remnants", target.ram_unavailable_reason()))
    else:
        t0 = time.perf_counter()
        ram = check_ram_remnants(
            run_a.snapshots, frames, config.window, config.recent, note=run_a.ram_note
        )
        ram.seconds = time.perf_counter() - t0
        checks.append(ram)
    if run_a.error:
        _note_run_error(checks, run_a.error)
    return checks, run_a, run_b


def _merge_boots(per_boot: list[list[CheckResult]], bounds) -> list[CheckResult]:
    """One result per check over several boots: failed if it failed in any; findings
    prefixed with their boot (frame numbers in them count from that boot's first)."""
    merged = []
    for i, first in enumerate(per_boot[0]):
        results = [checks[i] for checks in per_boot]
        f = Findings()
        total = 0
        for b, r in enumerate(results):
            lo, hi = bounds[b]
            for finding in r.findings:
                f.add(f"boot {b + 1} (frames {lo}..{hi - 1}): {finding}")
            total += max(r.findings_total, len(r.findings))
        f.total = max(f.total, total)
        failing = [b for b, r in enumerate(results) if not r.passed and not r.skipped]
        shown = results[failing[0]] if failing else results[0]
        detail = (
            f"{len(results)} boots of up to {max(hi - lo for lo, hi in bounds)} frames; "
            + (
                f"failed in boots {', '.join(str(b + 1) for b in failing)}; boot {failing[0] + 1}: "
                if failing
                else "boot 1: "
            )
            + shown.detail
        )
        result = f.result(first.name, not failing, detail)
        result.skipped = all(r.skipped for r in results)
        result.seconds = sum(r.seconds for r in results)
        merged.append(result)
    return merged


def _retime(checks, run_a: DeviceRun, run_b: DeviceRun | None, frames, frames_b) -> None:
    """Redo length_timing: length from run A, timing from run B (no debugger stops)."""
    from .audit.length_timing import check_length_timing
    from .protocol import parse_capture_spans

    t0 = time.perf_counter()
    timing_run = None
    if run_b is not None and not run_b.error:
        timing_run = (parse_capture_spans(run_b.capture), frames_b, run_b.arrivals)
    result = check_length_timing(
        parse_capture_spans(run_a.capture),
        frames,
        len(run_a.capture),
        None,
        timing_run,
        timing_note="RAM read-back stopped the device at every frame of run A",
    )
    result.seconds = time.perf_counter() - t0
    for i, c in enumerate(checks):
        if c.name == result.name:
            checks[i] = result


def _note_run_error(checks: list[CheckResult], error: str) -> None:
    for c in checks:
        if c.name == "grammar":
            c.detail += f"; run A ended early: {error}"


def _hello_json(hello: Hello | None) -> dict | None:
    if hello is None:
        return None
    return {
        "proto_version": hello.proto_version,
        "build_kind": hello.build_kind,
        "policy": hello.policy,
        "leak_budget_bits": hello.leak_budget_bits,
        "fw_version": hello.fw_version,
        "board": hello.board,
        "model_sha256": hello.model_sha256.hex(),
    }


def _runs_json(runs: list[DeviceRun]) -> dict:
    """One run's facts, or several boots' summed (errors and RAM notes joined)."""
    if len(runs) == 1:
        return _run_json(runs[0])
    each = [_run_json(r) for r in runs]
    errors = [f"boot {i + 1}: {e['error']}" for i, e in enumerate(each) if e["error"]]
    return {
        "capture_bytes": sum(e["capture_bytes"] for e in each),
        "decisions": sum(e["decisions"] for e in each),
        "bye": all(e["bye"] for e in each),
        "wall_s": round(sum(e["wall_s"] for e in each), 3),
        "exit_code": next((e["exit_code"] for e in each if e["exit_code"]), each[0]["exit_code"]),
        "error": "; ".join(errors) or None,
        "resets": [r for e in each for r in e["resets"]],
        "ram": " | ".join(e["ram"] for e in each if e["ram"]),
        "boots": each,
    }


def _run_json(run: DeviceRun) -> dict:
    return {
        "capture_bytes": len(run.capture),
        "decisions": run.decisions,
        "bye": any(isinstance(r, Bye) for r in run.records),
        "wall_s": round(run.wall_s, 3),
        "exit_code": run.exit_code,
        "error": run.error,
        "resets": run.resets,
        "ram": run.ram_note,
    }


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
