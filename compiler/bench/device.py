"""Build small firmware images around the engine and run them on the emulated boards.

Images are built here, not with firmware/Makefile (the product app's): they link the
engine, a generated model and a main of our own (the bench firmware, firmware/bench/, or
the kernel checker, firmware/tools/kernel_check.c) with the board's startup, UART and
instruction-counter code from firmware/ports/, reused read-only. The per-board compiler
flags repeat firmware/Makefile's.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compiler.bench import insn_count
from compiler.bench.insn_count import ExactCounts
from compiler.engine_cache import cached_objects, engine_sources
from host_tools import emulator

REPO = Path(__file__).resolve().parents[2]
FIRMWARE = REPO / "firmware"
ENGINE = FIRMWARE / "engine"
PORT = FIRMWARE / "ports" / "qemu_mps2"
CROSS = "arm-none-eabi-"

# As in firmware/Makefile.
BOARD_FLAGS = {
    "an386": (["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
              ["-DPK_BOARD_AN386=1"], "mps2.ld"),
    "an500": (["-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"],
              ["-DPK_BOARD_AN500=1"], "mps2.ld"),
    "an547": (["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"],
              ["-DPK_BOARD_AN547=1"], "mps3_an547.ld"),
}
BANK_MAGIC = b"PKBI"


def available_boards() -> list[str]:
    """Boards with an emulator entry, a board.h block and a linker script in the port."""
    board_h = (PORT / "board.h").read_text()
    out = []
    for name, (_, defs, ld) in BOARD_FLAGS.items():
        macro = defs[0].split("=")[0][2:]
        if name in emulator.BOARDS and macro in board_h and (PORT / ld).exists():
            out.append(name)
    return out


@dataclass
class Image:
    elf: Path
    board: str
    code_bytes: int  # .text of engine and model code after the link (dead code dropped)
    weight_bytes: int  # read-only data of the generated model (weights, parameters)
    sizes: dict[str, int] = field(default_factory=dict)  # ELF sections


def _compile(cflags: list[str], src: Path, obj: Path, board: str) -> Path:
    proc = subprocess.run([CROSS + "gcc", *cflags, "-c", str(src), "-o", str(obj)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{board}: compiling {src} failed:\n{proc.stderr}")
    return obj


def _obj_name(src: Path) -> str:
    try:
        rel = src.resolve().relative_to(REPO)
    except ValueError:
        rel = Path("model") / src.name
    return str(rel).replace("/", "__") + ".o"


def _library(board: str, cflags: list[str]) -> list[Path]:
    """Engine and port objects for board: they do not depend on the model or the main (the
    generated code picks kernel variants through pk_kernels.h in its own translation unit),
    so they are compiled once and cached by a hash of flags and sources."""
    sources = [*engine_sources(), PORT / "startup.c", PORT / "hal.c", PORT / "semihost_exit_hil.c"]
    headers = sorted((ENGINE / "include").glob("*.h")) + sorted(PORT.glob("*.h")) + \
        sorted((FIRMWARE / "app").glob("*.h"))
    return cached_objects(f"peekless-engine-{board}", " ".join(cflags), sources, headers,
                          _obj_name, lambda src, obj: _compile(cflags, src, obj, board),
                          workers=os.cpu_count() or 1)


def build_image(board: str, main_src: Path, out_dir: Path, model_dir: Path | None = None,
                defines: tuple[str, ...] = (), opt: str = "-O2") -> Image:
    """Compile main_src + engine (+ the model in model_dir) + the board's port into an ELF.
    defines apply to main_src and the model (where kernel variants are chosen)."""
    arch, board_defs, ld = BOARD_FLAGS[board]
    out_dir = Path(out_dir)
    (out_dir / "obj").mkdir(parents=True, exist_ok=True)
    # the engine's and port's, then the mains' own: bench_io.h and the generated model
    includes = [f"-I{FIRMWARE / 'app'}", f"-I{PORT}", f"-I{ENGINE / 'include'}",
                f"-I{FIRMWARE / 'bench'}"]
    if model_dir is not None:
        includes.append(f"-I{model_dir}")
    cflags = ["-std=c99", opt, "-g", "-Wall", "-Wextra", "-Werror", "-ffunction-sections",
              "-fdata-sections", *arch, *board_defs, *includes[:3]]
    library = _library(board, cflags)
    own = [Path(main_src)] + ([Path(model_dir) / "peekless_model.c"] if model_dir else [])
    own_flags = [*cflags, *includes[3:], *defines]
    with ThreadPoolExecutor(max_workers=2) as pool:
        objs = list(pool.map(lambda src: _compile(own_flags, src, out_dir / "obj" / _obj_name(src),
                                                   board), own))
    objs += library
    elf = out_dir / "image.elf"
    mapfile = out_dir / "image.map"
    proc = subprocess.run([CROSS + "gcc", *arch, "-nostartfiles", "--specs=nano.specs",
                           f"-T{PORT / ld}", "-Wl,--gc-sections", f"-Wl,-Map={mapfile}",
                           "-o", str(elf), *map(str, objs)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{board}: link failed:\n{proc.stderr}")
    code, weights = _map_sizes(mapfile)
    return Image(elf, board, code, weights, emulator.section_sizes(elf))


_MAP_ENTRY = re.compile(r"^ (\.(?:text|rodata)[^\s]*)\s*\n?\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S+\.o)",
                        re.MULTILINE)


def _map_sizes(mapfile: Path) -> tuple[int, int]:
    """(code, model read-only data) bytes kept in the link, from the linker map: .text of
    engine and model objects, .rodata of the model object."""
    text = mapfile.read_text()
    text = text.split("Linker script and memory map", 1)[-1]  # skip discarded sections
    code = weights = 0
    for section, _addr, size, obj in _MAP_ENTRY.findall(text):
        name = Path(obj).name
        is_engine = name.startswith("firmware__engine__")
        is_model = name.startswith("model__") or "peekless_model" in name
        if section.startswith(".text") and (is_engine or is_model):
            code += int(size, 16)
        elif section.startswith(".rodata") and is_model:
            weights += int(size, 16)
    return code, weights


@dataclass
class BenchRun:
    variant: str
    outputs: np.ndarray  # int8 [n, output bytes]
    instructions: np.ndarray  # per inference
    layers: list[int]  # instructions per layer, first input
    wall_s: float
    exact: ExactCounts | None = None  # from the counting plugin (run_bench(exact=True))


def run_bench(image: Image, inputs: np.ndarray, output_bytes: int,
              timeout_s: float = 600.0, exact: bool = False, hist: bool = False) -> BenchRun:
    """Run the bench image on every row of inputs (int8), in as many emulator runs as the
    board's preload window needs. exact: also count every instruction from outside the
    guest (compiler/bench/insn_count.py), per inference and per layer; hist: and per
    translated block (to find data-dependent code)."""
    board = emulator.BOARDS[image.board]
    inputs = np.ascontiguousarray(inputs, dtype=np.int8).reshape(len(inputs), -1)
    per_run = max(1, (board.bank_bytes - 16) // inputs.shape[1])
    outs, insns, layers, variant, wall = [], [], None, "", 0.0
    counted: list[ExactCounts] = []
    for start in range(0, len(inputs), per_run):
        batch = inputs[start:start + per_run]
        with tempfile.TemporaryDirectory() as tmp:
            bank = Path(tmp) / "inputs.bin"
            header = np.array([len(batch), batch.shape[1], output_bytes], dtype="<u4")
            bank.write_bytes(BANK_MAGIC + header.tobytes() + batch.tobytes())
            cmd = emulator.qemu_command(image.elf, image.board, frame_bank=bank,
                                        serial_port=None, icount=True)
            marks = Path(tmp) / "marks.txt"
            if exact or hist:
                cmd += insn_count.plugin_args(image.elf, marks, hist=hist)
            t0 = time.monotonic()
            proc = subprocess.run(cmd, capture_output=True, timeout=timeout_s,
                                  stdin=subprocess.DEVNULL, check=False)
            wall += time.monotonic() - t0
            if (exact or hist) and proc.returncode == 0:
                counted.append(insn_count.parse(marks))
        text = proc.stdout.decode(errors="replace")
        got = _parse(text, output_bytes)
        if proc.returncode != 0 or got[4] != 0 or len(got[1]) != len(batch):
            raise RuntimeError(f"bench run on {image.board} failed (exit {proc.returncode}):\n"
                               f"{text[-2000:]}\n{proc.stderr.decode(errors='replace')[-2000:]}")
        variant = got[0]
        outs.append(got[1])
        insns.append(got[2])
        if layers is None:
            layers = got[3]
    total = None
    if counted:
        total = ExactCounts(np.concatenate([c.inferences for c in counted]),
                            np.concatenate([c.layers for c in counted]),
                            [h for c in counted for h in c.hist])
        if len(total.inferences) != len(inputs):
            raise RuntimeError(f"{image.board}: the counting plugin saw {len(total.inferences)} "
                               f"inferences, not {len(inputs)}")
    return BenchRun(variant, np.concatenate(outs), np.concatenate(insns), layers or [], wall, total)


def _parse(text: str, output_bytes: int):
    variant, outputs, insns, layers, status = "", [], [], [], None
    for line in text.splitlines():
        parts = line.strip().split()
        if not parts:
            continue
        if parts[0] == "V":
            variant = parts[1]
        elif parts[0] == "L":
            layers.append(int(parts[2]))
        elif parts[0] == "O":
            outputs.append(np.frombuffer(bytes.fromhex(parts[2]), dtype=np.int8))
        elif parts[0] == "I":
            insns.append(int(parts[2]))
        elif parts[0] == "E":
            status = int(parts[1])
    out = np.stack(outputs) if outputs else np.zeros((0, output_bytes), np.int8)
    return variant, out, np.array(insns, dtype=np.int64), layers, status
