"""pytest plugin: hardware-in-the-loop privacy tests against a real board or an emulator.

Registered through ``[project.entry-points."pytest11"]``, so installing Peekless is
enough. A doorbell builder writes:

    def test_my_board_leaks_nothing(peekless_audit):
        report = peekless_audit()
        assert report.passed, report.summary(findings=True)

    def test_my_board_says_hello(peekless_device):
        hello = peekless_device.expect_hello(timeout_s=5)
        assert hello.board == "my-board"

and runs it against an emulator or a board:

    pytest --peekless-board an386 --peekless-elf build-prod/peekless.elf \
        --peekless-model model.tflite --peekless-manifest build-prod/build_manifest.json
    pytest --peekless-port /dev/ttyACM0 --peekless-rig rig.json --peekless-elf build-hil/peekless.elf \
        --peekless-model model.tflite --peekless-production-elf build-prod/peekless.elf

Tests that use a device fixture are skipped when no device is given. Every fixture only
forwards to a plain function of :mod:`host_tools.hil_audit` (``make_target``,
``run_audit``...) that works the same outside pytest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

NO_DEVICE = (
    "no Peekless device: give --peekless-port URL, or --peekless-board BOARD with "
    "--peekless-elf PATH"
)


@dataclass(frozen=True)
class PeeklessOptions:
    """The plugin's command-line options, as plain data."""

    port: str | None = None
    board: str | None = None
    elf: Path | None = None
    rig: Path | None = None
    manifest: Path | None = None
    model: Path | None = None
    production_elf: Path | None = None
    frames: int = 32
    seed: int = 0
    shape: tuple[int, int, int] | None = None
    report_dir: Path | None = None

    @property
    def has_device(self) -> bool:
        return bool(self.port or (self.board and self.elf) or self.rig)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("peekless", "Peekless hardware-in-the-loop privacy tests")
    group.addoption(
        "--peekless-port",
        metavar="URL",
        default=None,
        help="pyserial URL of a real device (/dev/ttyACM0, socket://HOST:PORT, "
        "rfc2217://HOST:PORT)",
    )
    group.addoption(
        "--peekless-board",
        metavar="BOARD",
        default=None,
        help="emulate this board (an386, an500, an547) running --peekless-elf",
    )
    group.addoption(
        "--peekless-elf",
        metavar="PATH",
        type=Path,
        default=None,
        help="the image to audit: the production ELF on the emulator, or (with "
        "--peekless-port) the HIL image on the board, for RAM read-back",
    )
    group.addoption(
        "--peekless-rig",
        metavar="PATH",
        type=Path,
        default=None,
        help="rig description (JSON/YAML): flasher, bank loader, reset, gdbserver",
    )
    group.addoption(
        "--peekless-manifest",
        metavar="PATH",
        type=Path,
        default=None,
        help="build_manifest.json the device's HELLO must match",
    )
    group.addoption(
        "--peekless-model",
        metavar="PATH",
        type=Path,
        default=None,
        help="the .tflite the firmware was built from: the audit's reference decisions",
    )
    group.addoption(
        "--peekless-production-elf",
        metavar="PATH",
        type=Path,
        default=None,
        help="real boards: the shipped ELF the audited image must equal",
    )
    group.addoption(
        "--peekless-frames",
        metavar="N",
        type=int,
        default=32,
        help="canary frames per audit run (default 32)",
    )
    group.addoption(
        "--peekless-seed", metavar="N", type=int, default=0, help="canary seed (default 0)"
    )
    group.addoption(
        "--peekless-shape",
        metavar="HxWxC",
        type=_shape,
        default=None,
        help="frame shape of the device's input (default: from --peekless-elf)",
    )
    group.addoption(
        "--peekless-report-dir",
        metavar="DIR",
        type=Path,
        default=None,
        help="write each audit's JSON and JUnit XML here (default: the test's tmp_path)",
    )


def _shape(text: str) -> tuple[int, int, int]:
    parts = tuple(int(x) for x in text.lower().split("x"))
    if len(parts) == 2:
        parts = (*parts, 1)
    if len(parts) != 3:
        raise ValueError(f"want HxW or HxWxC, got {text!r}")
    return parts


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "peekless: needs a Peekless device (--peekless-port or --peekless-board)"
    )


def options_from_config(config: pytest.Config) -> PeeklessOptions:
    opt = config.getoption
    return PeeklessOptions(
        port=opt("--peekless-port"),
        board=opt("--peekless-board"),
        elf=opt("--peekless-elf"),
        rig=opt("--peekless-rig"),
        manifest=opt("--peekless-manifest"),
        model=opt("--peekless-model"),
        production_elf=opt("--peekless-production-elf"),
        frames=opt("--peekless-frames"),
        seed=opt("--peekless-seed"),
        shape=opt("--peekless-shape"),
        report_dir=opt("--peekless-report-dir"),
    )


def make_target_from_options(options: PeeklessOptions, workdir: Path | None = None):
    """The device the options name (see :func:`host_tools.hil_audit.make_target`)."""
    from .hil_audit import make_target

    board = options.board or ("an386" if options.elf and not options.port else None)
    return make_target(options.port, board, options.elf, options.rig, workdir)


def load_manifest(options: PeeklessOptions) -> dict | None:
    import json

    if options.manifest is None:
        return None
    return json.loads(Path(options.manifest).read_text())


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def peekless_options(pytestconfig: pytest.Config) -> PeeklessOptions:
    """The --peekless-* options."""
    return options_from_config(pytestconfig)


@pytest.fixture(scope="session")
def peekless_target(peekless_options: PeeklessOptions, tmp_path_factory: pytest.TempPathFactory):
    """The device under test: an EmulatorTarget or a SerialTarget. Skips without one."""
    if not peekless_options.has_device:
        pytest.skip(NO_DEVICE)
    from .hil_audit import AuditError

    try:
        return make_target_from_options(peekless_options, tmp_path_factory.mktemp("peekless"))
    except AuditError as e:
        raise pytest.UsageError(f"peekless: {e}") from e


@pytest.fixture
def peekless_canaries(peekless_options: PeeklessOptions, peekless_target):
    """Factory: ``peekless_canaries(n=None, seed=None, shape=None)`` -> uint8 frames
    [n, h, w, c] at the device's input size (see host_tools.canaries)."""
    from .canaries import generate_canaries
    from .hil_audit import AuditError, frame_shape_from_elf

    def make(n: int | None = None, seed: int | None = None, shape=None):
        shape = shape or peekless_options.shape
        if shape is None and peekless_options.elf:
            shape = frame_shape_from_elf(peekless_options.elf)
        if shape is None:
            raise AuditError(
                "frame shape unknown: give --peekless-shape HxWxC or --peekless-elf "
                "(or shape=(h, w, c))"
            )
        n = peekless_options.frames if n is None else n
        seed = peekless_options.seed if seed is None else seed
        return generate_canaries(n, *shape, seed=seed).frames

    return make


@pytest.fixture
def peekless_device(peekless_target, peekless_canaries):
    """A DeviceSession on the device, shown ``--peekless-frames`` canary frames (the
    emulator boots with them; a rig loads them and resets the board). The HELLO has not
    been read yet."""
    with peekless_target.open(peekless_canaries(), label="device") as (session, _, _):
        yield session


@pytest.fixture
def peekless_run(peekless_target):
    """Factory: ``peekless_run(frames, timeout_s=60)`` -> DeviceRun (capture, records,
    arrival times, exit code)."""

    def run(frames, timeout_s: float = 60.0, ram: bool = False):
        return peekless_target.run(frames, timeout_s=timeout_s, ram=ram)

    return run


@pytest.fixture
def peekless_audit(peekless_options: PeeklessOptions, peekless_target, request, tmp_path):
    """Factory: ``peekless_audit(**AuditConfig fields)`` -> AuditReport. Defaults come
    from the --peekless-* options; the JSON and JUnit reports are written to the report
    directory and named at the end of ``report.summary()``."""
    from .hil_audit import AuditConfig, run_audit, write_outputs

    def audit(**overrides):
        fields = {
            "frames": peekless_options.frames,
            "seed": peekless_options.seed,
            "shape": peekless_options.shape,
            "model": peekless_options.model,
            "manifest": load_manifest(peekless_options),
            "production_elf": peekless_options.production_elf,
        }
        fields.update(overrides)
        report = run_audit(peekless_target, AuditConfig(**fields))
        out = peekless_options.report_dir or tmp_path
        out.mkdir(parents=True, exist_ok=True)
        stem = request.node.name.replace("/", "_").replace("[", "_").replace("]", "")
        write_outputs(report, out / f"{stem}.audit.json", out / f"{stem}.audit.xml")
        request.node.add_report_section("call", "peekless audit", report.summary(True))
        return report

    return audit
