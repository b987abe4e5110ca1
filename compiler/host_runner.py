"""Build generated model C for the host and run it on a batch of int8 inputs.

This is how tests and benchmarks compare the engine with LiteRT without an emulator.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from compiler.engine_cache import ENGINE, FIRMWARE, cached_objects, engine_sources

STREAM_RUNNER = Path(__file__).resolve().parent / "runners" / "stream_runner.c"


def build_host_runner(model_dir: Path, out: Path | None = None, cc: str = "gcc",
                      extra_flags: tuple[str, ...] = (), main: Path | None = None) -> Path:
    """Compile model_dir's generated C, the engine and a runner (main: the model runner, or
    STREAM_RUNNER) into one host executable."""
    model_dir = Path(model_dir)
    main = Path(main) if main else FIRMWARE / "tools" / "model_runner.c"
    out = Path(out) if out else model_dir / main.stem
    flags = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", *extra_flags, f"-I{ENGINE / 'include'}"]
    cmd = [cc, *flags, f"-I{model_dir}", "-o", str(out), str(main),
           str(model_dir / "peekless_model.c"), *map(str, _engine_objects(cc, flags))]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"host build of {model_dir} failed:\n{proc.stderr}")
    return out


def _engine_objects(cc: str, flags: list[str]) -> list[Path]:
    """The engine compiled once per compiler, flags and sources (cached in the temporary
    folder by their hash): it does not depend on the model, whose own translation unit
    picks kernel variants through pk_kernels.h."""
    def compile_one(src: Path, obj: Path) -> None:
        proc = subprocess.run([cc, *flags, "-c", str(src), "-o", str(obj)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"host build of {src.name} failed:\n{proc.stderr}")

    return cached_objects("peekless-host-engine", " ".join([cc, *flags]), engine_sources(),
                          sorted((ENGINE / "include").glob("*.h")),
                          lambda src: f"{src.parent.name}__{src.stem}.o", compile_one)


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


def run_stream_runner(runner: Path, inputs: np.ndarray, output_bytes: int,
                      abort_at: int | None = None) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Run STREAM_RUNNER (built by build_host_runner) on every row of inputs: the outputs
    (int8 [n, output_bytes]) and the first input's callback calls (row0, nrows, arena
    offset). It fails on any breach of the streaming contract; with abort_at it checks
    that the model stops at that call instead, and returns no outputs."""
    inputs = np.ascontiguousarray(inputs, dtype=np.int8)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst, calls = Path(tmp) / "in.bin", Path(tmp) / "out.bin", Path(tmp) / "calls.txt"
        src.write_bytes(inputs.tobytes())
        cmd = [str(runner), str(src), str(dst), str(calls)]
        cmd += [] if abort_at is None else [str(abort_at)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{runner.name} failed: {proc.stderr.strip()}")
        out = np.frombuffer(dst.read_bytes(), dtype=np.int8).reshape(-1, output_bytes)
        log = [tuple(int(v) for v in line.split()) for line in calls.read_text().splitlines()]
    return out, log
