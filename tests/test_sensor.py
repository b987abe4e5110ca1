"""The emulated sensor (docs/SENSOR.md) and its host feeder (host_tools/sensor.py).

Production images (no frame bank, no command input) built with small stub models, fed
frame by frame through the sensor window over the GDB remote protocol:

* the capture path is constant time: every frame of one format and size costs exactly
  the same number of instructions whatever its pixels (QEMU's executed-instruction
  count), on every board;
* the window is a FIFO: after each frame it is all zeros again;
* with no frame offered the device takes its built-in test pattern;
* the feeder refuses frames the firmware cannot take before writing anything, and says
  clearly when the device halts or does not come back.

The decisions of a real model fed through the sensor are checked against LiteRT in
tests/test_boards.py (test_production_image_through_the_sensor_equals_litert).
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from cobs import cobs

from host_tools import emulator, sensor
from training import camera_preprocess as cp

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
ENGINE_CACHE = Path(tempfile.gettempdir()) / f"peekless-engine-cache-{os.getuid()}"
BOARDS = ["an386", "an500", "an547"]
DECISION = 0x02

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.skipif(
        shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
        reason="arm-none-eabi-gcc/qemu-system-arm missing: make setup",
    ),
]

# A 16x16 gray stub model whose work does not depend on its input's values: it reads
# every input byte into a sum (so the input is really made) and always answers "no
# person", so the DECISION record, too, is the same for every frame. SPIN makes it run
# (about) forever, for the timeout test.
STUB_H = """\
#ifndef PEEKLESS_MODEL_H
#define PEEKLESS_MODEL_H
#include <stdint.h>
#define PEEKLESS_MODEL_INPUT_H 16
#define PEEKLESS_MODEL_INPUT_W 16
#define PEEKLESS_MODEL_INPUT_C 1
#define PEEKLESS_MODEL_INPUT_BYTES 256
#define PEEKLESS_MODEL_OUTPUT_BYTES 2
#define PEEKLESS_MODEL_ARENA_BYTES 4
#define PEEKLESS_MODEL_PERSON_INDEX 1
#define PEEKLESS_MODEL_SHA256_BYTES {0}
extern int8_t peekless_model_arena[];
int peekless_model_invoke(const int8_t *input, int8_t *output);
#endif
"""
STUB_C = """\
#include "peekless_model.h"
int8_t peekless_model_arena[PEEKLESS_MODEL_ARENA_BYTES];
volatile int32_t stub_sink;
int peekless_model_invoke(const int8_t *input, int8_t *output)
{
    int32_t sum = 0;
    for (int i = 0; i < PEEKLESS_MODEL_INPUT_BYTES; i++) {
        sum += input[i];
    }
    stub_sink = sum;
#ifdef SPIN
    for (volatile uint32_t n = 0; n < 0xFFFFFFFFu; n++) {
    }
#endif
    output[0] = 1;
    output[1] = 0;
    return 0;
}
"""


def build_stub(root: Path, board: str, spin: bool = False, kind: str = "production") -> Path:
    model = root / ("spin" if spin else "stub")
    model.mkdir(parents=True, exist_ok=True)
    (model / "peekless_model.h").write_text(STUB_H)
    (model / "peekless_model.c").write_text(("#define SPIN 1\n" if spin else "") + STUB_C)
    out = root / f"fw-{board}-{model.name}-{kind}"
    cmd = ["make", "-C", str(FIRMWARE), f"-j{os.cpu_count() or 1}", f"BOARD={board}",
           f"BUILD={kind}", f"MODEL_DIR={model}", f"OUT={out}",
           f"ENGINE_CACHE={ENGINE_CACHE}"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / "peekless.elf"


@pytest.fixture(scope="module")
def stubs(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("sensor")
    cache: dict[tuple[str, bool, str], Path] = {}

    def get(board: str, spin: bool = False, kind: str = "production") -> Path:
        if (board, spin, kind) not in cache:
            cache[board, spin, kind] = build_stub(root, board, spin, kind)
        return cache[board, spin, kind]

    return get


def decisions(capture: bytes) -> list[tuple[int, int]]:
    out = []
    for raw in capture.split(b"\0")[:-1]:
        body = cobs.decode(raw)
        assert zlib.crc32(body[:-4]) == struct.unpack("<I", body[-4:])[0]
        if body[0] == DECISION:
            out.append(struct.unpack("<IB", body[1:-4]))
    return out


def random_frame(rng: random.Random, w: int, h: int, fmt: int) -> bytes:
    return bytes(rng.randrange(256) for _ in range(w * h * cp.BYTES_PER_PIXEL[fmt]))


# Each board a different set of sizes; every board every format.
GEOMETRY = {
    "an386": [(320, 240), (64, 48)],
    "an500": [(176, 144)],
    "an547": [(160, 120)],
}


class Timeline:
    """(symbol, instructions) of every stop at the watched symbols, in order."""

    def __init__(self, dev: sensor.SensorFeeder, symbols: tuple[str, ...]) -> None:
        self.events: list[tuple[str, int]] = []
        for name in symbols:
            dev.watch(name, lambda d, name=name: self.events.append((name, d.instructions())))


@pytest.mark.parametrize("board", BOARDS)
def test_capture_path_is_constant_time_and_leaves_the_window_empty(stubs, board: str) -> None:
    """Per format and size, frames of random, all-0x00 and all-0xFF pixels cost exactly
    the same instructions from the frame boundary to the DECISION record (camera driver,
    row preprocessing, model, decision) and from the end of the frame (the camera's
    end, then every wipe) to the next boundary. The record encoder between the two is
    not measured here: its work depends on the record's bytes (the frame number), which
    the link shows anyway.
    After each frame the sensor window is all zeros."""
    rng = random.Random(BOARDS.index(board))
    b = emulator.BOARDS[board]
    with sensor.SensorFeeder(stubs(board), board) as dev:
        tl = Timeline(dev, ("pk_link_send_decision", "pk_hal_camera_end"))
        for w, h in GEOMETRY[board]:
            for fmt in (cp.FORMAT_GRAY8, cp.FORMAT_RGB888, cp.FORMAT_RGB565, cp.FORMAT_YUYV):
                n = w * h * cp.BYTES_PER_PIXEL[fmt]
                frames = [random_frame(rng, w, h, fmt), bytes(n), b"\xff" * n,
                          random_frame(rng, w, h, fmt)]  # fmt: skip
                spans = set()
                for f in frames:
                    tl.events.clear()
                    begin = dev.instructions()
                    dev.next_frame(f, fmt, w, h)
                    nxt = dev.instructions()
                    record = next(i for i, (s, _) in enumerate(tl.events)
                                  if s == "pk_link_send_decision")  # fmt: skip
                    end = next(c for s, c in tl.events[record:] if s == "pk_hal_camera_end")
                    spans.add((tl.events[record][1] - begin, nxt - end))
                    window = dev.read_memory(b.bank_addr, sensor.HEADER_BYTES + n)
                    assert not any(window), f"{board} {w}x{h} fmt {fmt}: window not wiped"
                assert len(spans) == 1, f"{board} {w}x{h} fmt {fmt}: {sorted(spans)}"
        got = decisions(dev.serial())
    assert [s for s, _ in got] == list(range(dev.frames))


def test_feeder_offers_frames_with_padded_rows_and_the_pattern_without_a_host(stubs) -> None:
    """Rows with padding (a pitch longer than the row) are read and wiped whole; with no
    frame offered the device takes its built-in test pattern."""
    rng = random.Random(7)
    frame = random_frame(rng, 40, 30, cp.FORMAT_RGB565)
    with sensor.SensorFeeder(stubs("an386"), "an386") as dev:
        dev.next_frame(frame, "rgb565", 40, 30, pitch=96)
        assert not any(dev.read_memory(dev.board.bank_addr, sensor.HEADER_BYTES + 96 * 30))
        dev.next_frame(None)
        dev.next_frame(None)
        assert [s for s, _ in decisions(dev.serial())] == [0, 1, 2]


def test_feeder_refuses_what_the_firmware_cannot_take(stubs) -> None:
    with sensor.SensorFeeder(stubs("an386"), "an386") as dev:
        with pytest.raises(sensor.SensorError, match="camera line buffer 1280"):
            dev.next_frame(bytes(641 * 2 * 2), "rgb565", 641, 2)  # a row of 1282 bytes
        with pytest.raises(sensor.SensorError, match="want 200"):
            dev.next_frame(bytes(199), "gray8", 20, 10)
        with pytest.raises(sensor.SensorError, match="even width"):
            dev.next_frame(bytes(7 * 2 * 2), "yuyv", 7, 2)
        with pytest.raises(sensor.SensorError, match="unknown pixel format"):
            dev.next_frame(bytes(4), "bayer", 2, 2)
        assert dev.frames == 0  # nothing was offered
        dev.next_frame(bytes(200), "gray8", 20, 10)  # and the device still works
        assert len(decisions(dev.serial())) == 1
    # A HIL image (its camera is the frame bank) is refused by name.
    with pytest.raises(sensor.SensorError, match="HIL image"):
        sensor.SensorFeeder(stubs("an386", kind="hil"), "an386")


def test_feeder_reports_a_halted_device_and_a_timeout(stubs) -> None:
    # The host may write any header: a 7x2 YUYV frame (odd width) reaches preprocessing,
    # which refuses it; the production image halts with exit status 4 and the feeder
    # says so.
    with sensor.SensorFeeder(stubs("an386"), "an386") as dev:
        base = dev.board.bank_addr
        dev.gdb.write_memory(base + sensor.HEADER_BYTES, bytes(7 * 2 * 2))
        words = struct.pack("<8I", sensor.MAGIC, 1, 0, 7, 2, cp.FORMAT_YUYV, 14, 1)
        dev.gdb.write_memory(base, words)
        with pytest.raises(sensor.DeviceHalted, match=r"pk_hal_exit\(4\)") as err:
            dev.next_frame(None)
        assert err.value.status == 4
    spin = stubs("an386", spin=True)
    with (
        sensor.SensorFeeder(spin, "an386", timeout_s=1.0) as dev,
        pytest.raises(TimeoutError, match="did not reach pk_hal_camera_begin within 1.0 s"),
    ):
        dev.next_frame(bytes(256), "gray8", 16, 16)


def test_qemu_command_puts_every_uart_in_a_file() -> None:
    files = [Path(f"u{i}") for i in range(6)]
    cmd = emulator.qemu_command(Path("fw.elf"), "an547", serial_port=None, serial_files=files)
    assert [cmd[i + 1] for i, c in enumerate(cmd) if c == "-serial"] == [f"file:{f}" for f in files]
    assert emulator.BOARDS["an547"].uarts == 6 and emulator.BOARDS["an386"].uarts == 5


def test_format_codes_match_the_preprocessing() -> None:
    assert {k: sensor.format_code(k) for k in sensor.FORMATS} == cp.FORMAT_NAMES
    assert sensor.BYTES_PER_PIXEL == cp.BYTES_PER_PIXEL
    assert np.uint32(sensor.MAGIC).tobytes() == b"PKSN"
