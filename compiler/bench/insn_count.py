"""Exact instruction counts from outside the guest: a QEMU plugin
(firmware/tools/insn_count_plugin.c) counts every executed instruction and writes the
count each time the firmware calls a mark function (bench_mark, before and after each
inference; bench_trace after each layer).

The firmware's own counter is a timer under -icount shift=0, which resolves 40
instructions on mps2 and 31.25 on mps3-an547: too coarse to prove that two inputs take
exactly the same number of instructions. These counts are exact (QEMU executed
instructions, not cycles).
"""

from __future__ import annotations

import hashlib
import itertools
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
PLUGIN_SRC = FIRMWARE / "tools" / "insn_count_plugin.c"


def plugin_path() -> Path:
    """The plugin built for this host, cached by a hash of its source."""
    src = PLUGIN_SRC.read_bytes()
    so = Path(tempfile.gettempdir()) / f"peekless-insn-count-{hashlib.sha256(src).hexdigest()[:16]}.so"
    if not so.exists():
        cc = shutil.which("gcc") or shutil.which("cc")
        if cc is None:
            raise RuntimeError("a host C compiler (gcc) is needed for the instruction-count plugin")
        tmp = so.with_suffix(f".{Path(tempfile.mktemp()).name}.tmp")
        subprocess.run([cc, "-O2", "-shared", "-fPIC", "-fvisibility=hidden", "-Wall", "-Wextra",
                        "-Werror", "-o", str(tmp), str(PLUGIN_SRC)], check=True)
        tmp.replace(so)
    return so


def symbol_address(elf: Path, name: str) -> int:
    out = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] == name:
            return int(parts[0], 16) & ~1
    raise RuntimeError(f"{elf}: no symbol {name}")


def plugin_args(elf: Path, out: Path, layer: str | None = "bench_trace", hist: bool = False,
                mark: str = "bench_mark") -> list[str]:
    """The qemu-system-arm arguments that load the plugin for elf: marks at every call of
    the function `mark`, layer marks at every call of `layer` (None: none)."""
    opts = [str(plugin_path()), f"mark={symbol_address(elf, mark):#x}", f"out={out}"]
    if layer:
        opts.append(f"layer={symbol_address(elf, layer):#x}")
    if hist:
        opts.append("hist=1")
    return ["-plugin", ",".join(opts)]


@dataclass
class ExactCounts:
    inferences: np.ndarray  # int64 [n]: instructions from mark to mark around each invoke
    layers: np.ndarray  # int64 [n, layers]: instructions of each layer (empty without layers)
    hist: list[dict[int, int]]  # per mark interval, block address -> instructions (hist=1)


def parse(path: Path) -> ExactCounts:
    """Marks come in pairs around each inference; layer marks fall between a pair. The
    histogram lines after mark j describe the interval that mark j closes, so inference
    k's histogram is hist[2k + 1]."""
    inferences, layers, hists = [], [], []
    start = None
    cur_layers: list[int] = []
    for line in path.read_text().splitlines():
        kind, *rest = line.split()
        if kind == "H":
            hists[-1][int(rest[0], 16)] = int(rest[1])
        elif kind == "M":
            count = int(rest[0])
            hists.append({})
            if start is None:
                start, cur_layers = count, []
            else:
                inferences.append(count - start)
                bounds = [start, *cur_layers]
                layers.append([b - a for a, b in itertools.pairwise(bounds)])
                start = None
        elif kind == "L" and start is not None:
            cur_layers.append(int(rest[0]))
    width = min((len(x) for x in layers), default=0)
    return ExactCounts(np.array(inferences, dtype=np.int64),
                       np.array([x[:width] for x in layers], dtype=np.int64).reshape(len(layers), width),
                       hists)
