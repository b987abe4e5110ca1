"""What a firmware image holds in RAM, measured rather than guessed.

* Static RAM: ``.data`` + ``.bss`` of the ELF.
* The stack's high-water mark, measured on the emulator: startup paints the stack
  (firmware/ports/qemu_mps2/pk_stack.h) and after each frame ``pk_hal_stack_scrub``
  paints again everything below main's frame, so on entry to it the lowest word that is
  not the paint is the deepest the stack has been. :func:`measure_ram` runs the image
  (a HIL image on a frame bank, a production image through its emulated sensor), stops
  there and at ``pk_hal_exit`` over the GDB remote protocol and reads the stack back.
* Pixel buffers: every RAM object of the app that holds camera or model-input pixels,
  and the part of the model's arena that holds the model input; the largest one is what
  a firmware leaks at most if it leaks a buffer (tests fail if a frame-sized one comes
  back: tests/test_boards.py).

    report = ram_report(elf, "an386", model_dir)     # static figures and pixel buffers
    measured = measure_ram(elf, "an386", input_row_bytes=96 * 3)
    measured.high_water_bytes, measured.input_extent_bytes
"""

from __future__ import annotations

import json
import random
import re
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from host_tools.checkpoints import elf_sections, elf_symbols
from host_tools.emulator import EmulatorError, board_info, free_port, qemu_command
from host_tools.frame_bank import FORMAT_BYTES, FORMAT_NAMES, FrameBankHeader
from host_tools.gdb_rsp import GdbClient

PAINT = 0xA5A5A5A5  # firmware/ports/qemu_mps2/pk_stack.h, PK_STACK_PAINT
SCRUB_SYMBOL = "pk_hal_stack_scrub"
EXIT_SYMBOL = "pk_hal_exit"
# RAM objects of the app that hold pixels (firmware/app/main.c): the camera line buffer,
# the preprocessing's box sums, the whole model input of a model without the streaming
# entry point, and the TEST ONLY frame copy of the leaky variants.
APP_PIXEL_SYMBOLS = ("camera_line", "preprocess_acc", "model_input", "test_leak_frame")
ARENA_SYMBOL = "peekless_model_arena"
# Measurement frames: the default camera (QVGA), every format: name -> (code, bytes/pixel).
FORMATS = {name.lower(): (code, FORMAT_BYTES[code]) for code, name in FORMAT_NAMES.items()}


FILL_SYMBOL = "fill_input_rows"  # firmware/app/main.c: the model's input row callback


@dataclass(frozen=True)
class RamMeasure:
    high_water_bytes: int  # deepest stack use seen, from the initial stack pointer
    reserved_bytes: int  # the linker's reservation (.stack)
    stops: int  # how many times the stack was read back
    input_extent_bytes: int | None  # bytes the model's input rows were written across


def section_bytes(elf: Path) -> dict[str, int]:
    """Allocated sections' sizes by name."""
    return {s.name: s.size for s in elf_sections(Path(elf)) if s.flags & 0x2 and s.size}


def ram_objects(elf: Path, board: str) -> list[tuple[str, int, int]]:
    """(name, address, bytes) of every sized data object in the board's RAM, largest
    first (the ELF's symbol table)."""
    regions = board_info(board).ram
    out = [
        (name, addr, size)
        for name, (addr, size) in elf_symbols(Path(elf)).items()
        if size and any(a <= addr < a + n for a, n in regions) and not name.startswith("pk_ld_")
    ]
    return sorted(out, key=lambda o: (-o[2], o[0]))


def model_input_bytes(model_dir: Path) -> tuple[int, int]:
    """(bytes of one model input row, rows) from the generated header."""
    text = (Path(model_dir) / "peekless_model.h").read_text()
    d = dict(re.findall(r"#define PEEKLESS_MODEL_(INPUT_[HWC])\s+(\d+)", text))
    return int(d["INPUT_W"]) * int(d["INPUT_C"]), int(d["INPUT_H"])


def arena_input_bytes(model_dir: Path) -> int:
    """Bytes of the model's arena that hold model input pixels (0 if none), from the
    memory plan: the band of input rows of a fused chain that streams the input
    (``fused_chains[].source.streamed``: MLPerf VWW keeps 10 of its 96 rows), else a
    buffer marked as the input (``kind`` "input"), else the largest buffer live from the
    first step that holds a tensor shaped like the input or a band of its rows,
    [1, r, W, C] with r <= H (that may also count a first layer's output of the same row
    shape: an over-estimate, never an under-estimate). :func:`measure_ram` measures the
    same thing on the running image.
    """
    plan = json.loads((Path(model_dir) / "memory_plan.json").read_text())
    row, rows = model_input_bytes(model_dir)
    bands = [
        int(b["bytes"])
        for chain in plan.get("fused_chains", [])
        if (chain.get("source") or {}).get("streamed")
        for b in chain.get("buffers", [])
        if b.get("tensor") == chain["source"].get("tensor")
    ]
    if bands:
        return max(bands)
    best = 0
    for buf in plan.get("buffers", []):
        if buf.get("kind") in ("input", "input_band"):
            best = max(best, int(buf["bytes"]))
            continue
        for t in buf.get("tensors", []):
            shape = t.get("shape") or []
            if (len(shape) == 4 and shape[0] == 1 and shape[2] * shape[3] == row
                    and shape[1] <= rows and buf.get("first_step") == 0):  # fmt: skip
                best = max(best, int(buf["bytes"]))
    return best


def pixel_buffers(elf: Path, board: str, model_dir: Path) -> dict[str, int]:
    """Every buffer that holds pixels -> bytes: the app's (APP_PIXEL_SYMBOLS) and, as
    ``peekless_model_arena[input]``, the part of the arena that holds model input."""
    sizes = {name: size for name, _, size in ram_objects(elf, board)}
    out = {name: sizes[name] for name in APP_PIXEL_SYMBOLS if name in sizes}
    band = arena_input_bytes(model_dir)
    if band:
        out[f"{ARENA_SYMBOL}[input]"] = band
    return out


def ram_report(elf: Path, board: str, model_dir: Path) -> dict:
    """Static RAM, the stack reservation, pixel buffers and the largest RAM objects."""
    s = section_bytes(elf)
    pix = pixel_buffers(elf, board, model_dir)
    largest = max(pix.items(), key=lambda kv: kv[1]) if pix else (None, 0)
    return {
        "data_bytes": s.get(".data", 0),
        "bss_bytes": s.get(".bss", 0),
        "static_bytes": s.get(".data", 0) + s.get(".bss", 0),
        "stack_reserved_bytes": s.get(".stack", 0),
        "pixel_buffers": pix,
        "largest_pixel_buffer": {"name": largest[0], "bytes": largest[1]},
        "largest_objects": [
            {"name": n, "bytes": b} for n, _, b in ram_objects(elf, board)[:6]
        ],
    }


def oversized_objects(elf: Path, board: str, limit: int | None = None) -> list[tuple[str, int]]:
    """(name, bytes) of every RAM object, the model's arena aside, that could hold more
    than a few camera rows: bigger than ``limit`` (default: four camera line buffers,
    the size of the image's ``camera_line``). A frame-sized buffer shows up here. The
    arena's pixel-holding part is checked apart (:func:`arena_input_bytes`,
    :func:`measure_ram`)."""
    objs = ram_objects(elf, board)
    if limit is None:
        line = next((b for n, _, b in objs if n == "camera_line"), None)
        if line is None:
            raise ValueError(f"{Path(elf).name}: no camera_line buffer (not a Peekless image?)")
        limit = 4 * line
    return [(n, b) for n, _, b in objs if n != ARENA_SYMBOL and b > limit]


def stack_depth(stack: bytes, limit: int, top: int) -> int:
    """Bytes from ``top`` down to the lowest word of ``stack`` (read from ``limit``) that
    is not the paint: the deepest the stack has been."""
    words = struct.unpack(f"<{len(stack) // 4}I", stack)
    for i, w in enumerate(words):
        if w != PAINT:
            return top - (limit + 4 * i)
    return 0


def _frames(rng: random.Random, w: int, h: int) -> list[tuple[int, bytes]]:
    return [(code, rng.randbytes(w * h * bpp)) for code, bpp in FORMATS.values()]


def measure_ram(
    elf: Path,
    board: str,
    input_row_bytes: int | None = None,
    width: int = 320,
    height: int = 240,
    timeout_s: float = 120.0,
) -> RamMeasure:
    """Run ``elf`` on one random frame of every camera format (``width`` x ``height``)
    and read the stack back at every ``pk_hal_stack_scrub`` and at ``pk_hal_exit``.
    With ``input_row_bytes`` (the model's), also stop in the model's input callback and
    measure the span of RAM its rows were written to (the arena's pixel-holding band).

    A HIL image reads the frames from a bank (one bank per format, one run each); a
    production image gets them through its emulated sensor (host_tools/sensor.py), then
    one frame of its built-in test pattern."""
    elf = Path(elf)
    syms = elf_symbols(elf)
    for name in ("pk_ld_stack_limit", "pk_ld_stack_top", SCRUB_SYMBOL):
        if name not in syms:
            raise ValueError(f"{elf.name}: no {name} (not an emulated board's image?)")
    limit, top = syms["pk_ld_stack_limit"][0], syms["pk_ld_stack_top"][0]
    depths: list[int] = []
    rows: list[tuple[int, int]] = []  # (dst, nrows) of every input callback

    def on_stop(gdb: GdbClient, pc: int) -> None:
        if pc == fill:
            regs = [gdb.read_register(r) for r in (2, 3)]
            rows.append((regs[1], regs[0]))
        else:
            depths.append(stack_depth(gdb.read_memory(limit, top - limit), limit, top))

    fill = syms[FILL_SYMBOL][0] & ~1 if input_row_bytes and FILL_SYMBOL in syms else None
    stops = {syms[SCRUB_SYMBOL][0] & ~1} | ({fill} if fill is not None else set())
    rng = random.Random(15)
    frames = _frames(rng, width, height)
    if "pk_hil_checkpoint" in syms:
        for code, frame in frames:
            _run_hil(elf, board, syms, stops, code, frame, width, height, on_stop, timeout_s)
    else:
        from host_tools.sensor import SensorFeeder

        with SensorFeeder(elf, board, timeout_s=timeout_s) as dev:
            for addr in stops:
                dev.watch_address(addr, lambda d, a=addr: on_stop(d.gdb, a))
            for code, frame in frames:
                dev.next_frame(frame, code, width, height)
            dev.next_frame(None)
            on_stop(dev.gdb, -1)
    extent = None
    if rows and input_row_bytes:
        extent = max(d + n * input_row_bytes for d, n in rows) - min(d for d, _ in rows)
    return RamMeasure(max(depths), top - limit, len(depths), extent)


def _run_hil(elf, board, syms, stops, code, frame, width, height, on_stop, timeout_s) -> None:
    header = FrameBankHeader(1, width, height, FORMAT_BYTES[code], code).pack()
    with tempfile.TemporaryDirectory() as tmp:
        bank = Path(tmp) / "bank.pkfb"
        bank.write_bytes(header + frame)
        port = free_port()
        uarts = [Path(tmp) / f"uart{i}.bin" for i in range(board_info(board).uarts)]
        cmd = qemu_command(elf, board, bank, serial_port=None, gdb_port=port,
                           serial_files=uarts)  # fmt: skip
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)  # fmt: skip
        try:
            with GdbClient.connect(port, timeout_s=timeout_s) as gdb:
                exit_addr = syms[EXIT_SYMBOL][0] & ~1
                for addr in stops | {exit_addr}:
                    gdb.set_breakpoint(addr)
                while True:
                    reply = gdb.cont()
                    if not reply.startswith((b"T", b"S")):
                        break
                    pc = gdb.read_register(15)
                    if pc not in stops | {exit_addr}:
                        raise EmulatorError(f"{elf.name}: stopped at {pc:#x}, not a stack stop")
                    on_stop(gdb, pc)
                    if pc == exit_addr:
                        status = gdb.read_register(0)
                        if status != 0:
                            raise EmulatorError(f"{elf.name}: exit status {status} on a "
                                                f"{width}x{height} frame of format {code}")
                        break
        finally:
            proc.kill()
            proc.wait()
