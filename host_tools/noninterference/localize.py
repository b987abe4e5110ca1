"""Where does the time go differently? Find the code whose instruction count depends on
the pixels, from outside the guest.

Two QEMUs boot the same image and are shown one frame each (the two frames of a
position where the audit's timing differed). The core stops at the entry of *every*
function of the image (its ELF symbol table); the instruction count at each entry is
read (QMP ``query-replay``). Both runs enter the same functions in the same order until
the data-dependent code has run: the first entry reached at a different count names the
function that ran just before it (or its callees without symbols, inlined code) as the
one whose time depends on the data.

    where = localize(elf, "an386", frame_a, frame_b, feeder_cls, window)
    print(where.text)
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .feeders import CameraFrames
from .qemu_device import QemuDevice

#: Function entries followed per run at most (a frame of MLPerf VWW enters ~1,000).
MAX_ENTRIES = 200_000


@dataclass
class Location:
    text: str
    function: str | None = None  # the function whose count depends on the data
    entries_compared: int = 0


def functions(elf: Path) -> dict[int, str]:
    """Address -> name of every function in the ELF (``nm``: text symbols)."""
    out = subprocess.run(
        ["arm-none-eabi-nm", "--defined-only", str(elf)], capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    funcs: dict[int, str] = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tT":
            funcs.setdefault(int(parts[0], 16) & ~1, parts[2])
    return funcs


def _trace(dev: QemuDevice, feeder, funcs: dict[int, str], stop_addr: int, timeout_s: float):
    """(function, instruction count) at every function entry until the core comes back
    to ``stop_addr`` after the frame (the next frame boundary)."""
    dev.start()
    dev.link.clear_watchpoints()
    feeder.prepare(dev.link)
    for addr in funcs:
        dev.link.set_breakpoint(addr)
    seq: list[tuple[str, int]] = []
    boundaries = 0
    dev.resume(None)
    while len(seq) < MAX_ENTRIES:
        stop = dev.wait_stop(timeout_s)
        if stop.kind != "break":
            break
        pc = dev.link.read_register(15)
        if pc == stop_addr:
            feeder.at_checkpoint(dev.link, boundaries)
            boundaries += 1
            if boundaries > 1 + int(feeder.exits_by_itself):
                break
        seq.append((funcs.get(pc, hex(pc)), dev.icount()))
        dev.resume(stop, pc)
    return seq


def localize(
    elf: Path,
    board: str,
    frame_a: CameraFrames,
    frame_b: CameraFrames,
    feeder_cls,
    window: int,
    window_bytes: int | None = None,
    timeout_s: float = 60.0,
) -> Location:
    """Run ``frame_a`` and ``frame_b`` (one frame each) and name the code whose
    instruction count differs between them (see the module doc)."""
    from ..checkpoints import symbol_address

    funcs = functions(elf)
    stop_addr = symbol_address(elf, feeder_cls.symbol)
    semi = feeder_cls.exits_by_itself
    with tempfile.TemporaryDirectory(prefix="peekless-localize-") as work:
        traces = []
        for label, frames in (("A", frame_a), ("B", frame_b)):
            with QemuDevice(elf, board, work, semihosting=semi, label=label) as dev:
                feeder = feeder_cls(window, frames, window_bytes)
                traces.append(_trace(dev, feeder, funcs, stop_addr, timeout_s))
    ta, tb = traces
    prev = None
    for k, (ea, eb) in enumerate(zip(ta, tb)):
        if ea != eb:
            if ea[0] != eb[0]:
                return Location(
                    f"the two frames take different paths: entry {k} is {ea[0]} in run A and "
                    f"{eb[0]} in run B (after {prev[0] if prev else 'the start'})",
                    prev[0] if prev else None,
                    k,
                )
            where = prev[0] if prev else "the start"
            return Location(
                f"{ea[0]} is entered at instruction {ea[1]:,} in run A and {eb[1]:,} in run B "
                f"({eb[1] - ea[1]:+,}); the entry before it, {where}, was reached at the same "
                f"count: the instruction count of {where} (or of code it runs without a "
                f"symbol of its own) depends on the data",
                prev[0] if prev else None,
                k,
            )
        prev = ea
    if len(ta) != len(tb):
        return Location(f"run A entered {len(ta)} functions, run B {len(tb)}", None, len(ta))
    return Location(
        f"not reproduced: the {len(ta)} function entries of the two frames, shown alone after "
        f"boot, are reached at the same instruction counts (the difference needs earlier "
        f"frames, or lies after the last function entry)",
        None,
        len(ta),
    )
