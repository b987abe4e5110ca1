"""`pio run -e an386` builds offline (local dev-platform, tool-scons from the SCons PyPI
wheel, Debian's arm-none-eabi-gcc) and `-t upload` runs the image in QEMU.

Needs `bash scripts/pio_setup.sh` first (firmware/pio/venv); skipped without it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from host_tools import elf_check

ROOT = Path(__file__).resolve().parents[1]
PIO = ROOT / "firmware" / "pio" / "venv" / "bin" / "pio"
BUILD = ROOT / "firmware" / "pio" / ".build"

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.skipif(not PIO.exists(), reason="PlatformIO not set up: bash scripts/pio_setup.sh"),
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm missing"),
]


def pio(*args: str) -> str:
    proc = subprocess.run(
        [str(PIO), "run", "-d", str(ROOT / "firmware"), *args],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.stdout


def test_pio_builds_an386_offline_and_upload_runs_it_in_qemu(mlperf_tflite) -> None:
    out = pio("-e", "an386", "-t", "upload")
    # Nothing is fetched: the only "install" is the local dev-platform's symlink.
    assert [x for x in out.splitlines() if "Installing" in x and "symlink://" not in x] == []
    assert "QEMU exit status: 0" in out
    assert "HELLO fw" in out and "board an386 build hil" in out and "BYE" in out
    assert (BUILD / "an386" / "peekless.elf").is_file()


def test_pio_production_build_passes_the_elf_check(mlperf_tflite) -> None:
    pio("-e", "an386-production")
    result = elf_check.check_production_elf(BUILD / "an386-production" / "peekless.elf")
    assert result.passed, result.summary()
