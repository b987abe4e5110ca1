"""Shared fixtures. Paths to the reference data beside the checkout live here."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PEEKLESS_SHARED", REPO.parent / "shared"))
MLPERF_TFLITE = SHARED / "models" / "mlperf_vww_96_int8.tflite"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def mlperf_tflite() -> Path:
    if not MLPERF_TFLITE.exists():
        pytest.skip(f"reference model missing: {MLPERF_TFLITE} (../shared beside the checkout)")
    return MLPERF_TFLITE


@pytest.fixture(scope="session")
def arm_toolchain() -> None:
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found: run `make setup`")
