"""Build generated model C for the host and run it on a batch of int8 inputs.

This is how tests and benchmarks compare the engine with LiteRT without an emulator.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"
ENGINE = FIRMWARE / "engine"


def engine_sources() -> list[Path]:
    return sorted(ENGINE.glob("*/*.c"))


def build_host_runner(model_dir: Path, out: Path | None = None, cc: str = "gcc",
                      extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile model_dir's generated C, the engine and the runner into one host executable."""
    model_dir = Path(model_dir)
    out = Path(out) if out else model_dir / "model_runner"
    cmd = [cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", *extra_flags,
           f"-I{ENGINE / 'include'}", f"-I{model_dir}", "-o", str(out),
           str(FIRMWARE / "tools" / "model_runner.c"), str(model_dir / "peekless_model.c"),
           *map(str, engine_sources())]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"host build of {model_dir} failed:\n{proc.stderr}")
    return out


def run_host_runner(runner: Path, inputs: np.ndarray, output_bytes: int) -> np.ndarray:
    """Invoke the model on every row of inputs (int8, [n, ...]); returns int8 [n, output_bytes]."""
    inputs = np.ascontiguousarray(inputs, dtype=np.int8)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        src.write_bytes(inputs.tobytes())
        proc = subprocess.run([str(runner), str(src), str(dst)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{runner.name} failed: {proc.stderr.strip()}")
        return np.frombuffer(dst.read_bytes(), dtype=np.int8).reshape(len(inputs), output_bytes)
