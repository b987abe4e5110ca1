"""The same model through TFLM's Python interpreter (the `tflite-micro` package): its outputs
and the smallest arena it runs in. Reported beside ours; nothing is faked when the package
is missing or fails: the reason is reported instead."""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class TflmResult:
    available: bool
    reason: str = ""  # why not, when not available
    outputs: np.ndarray | None = None
    arena_bytes: int | None = None  # smallest arena_size (1 KiB steps) that allocates and runs
    version: str = ""


@contextlib.contextmanager
def _quiet_stdout():
    """TFLM's C++ prints allocation failures straight to file descriptors 1 and 2."""
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def run_tflm(tflite: Path, inputs: np.ndarray) -> TflmResult:
    try:
        from importlib.metadata import version

        from tflite_micro.python.tflite_micro import runtime
    except Exception as exc:  # noqa: BLE001 - any failure is reported, never faked
        return TflmResult(False, f"tflite-micro not importable: {exc}")
    try:
        ver = version("tflite-micro")
    except Exception:  # noqa: BLE001 - the version is informative only
        ver = "?"

    def runs(size: int) -> bool:
        try:
            with _quiet_stdout():
                it = runtime.Interpreter.from_file(str(tflite), arena_size=size)
                it.set_input(np.asarray(inputs[:1]).reshape(it.get_input_details(0)["shape"]), 0)
                it.invoke()
            return True
        except Exception:  # noqa: BLE001 - TFLM raises RuntimeError; anything means no
            return False

    try:
        high = 256 << 10
        while not runs(high):
            high *= 2
            if high > 64 << 20:
                return TflmResult(False, "TFLM did not run with a 64 MiB arena", version=ver)
        low = 0
        while high - low > 1024:
            mid = (low + high) // 2 // 1024 * 1024
            if mid <= low:
                break
            low, high = (low, mid) if runs(mid) else (mid, high)
        with _quiet_stdout():
            it = runtime.Interpreter.from_file(str(tflite), arena_size=high)
        shape = it.get_input_details(0)["shape"]
        outs = []
        for row in np.asarray(inputs):
            it.set_input(row.reshape(shape).astype(np.int8), 0)
            it.invoke()
            outs.append(np.asarray(it.get_output(0)).reshape(-1).copy())
        return TflmResult(True, outputs=np.stack(outs), arena_bytes=high, version=ver)
    except Exception as exc:  # noqa: BLE001 - any failure is reported, never faked
        return TflmResult(False, f"TFLM failed: {type(exc).__name__}: {exc}", version=ver)
