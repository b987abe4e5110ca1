"""Firmware tests: the wire protocol, the build variants and the emulator runs.

The real model comes from the compiler; these tests build against a tiny stub model
(written into a temporary folder) whose decision is known: person iff the mean of the
int8 input is above 0, i.e. iff sum(pixel - 128) > 0. Records are decoded here with
the `cobs` package and zlib.crc32, independently of the firmware's own code.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from cobs import cobs

from host_tools import emulator, ram_readback

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"

HELLO, DECISION, STATS, BYE = 0x01, 0x02, 0x03, 0x04
PAYLOAD_BYTES = {HELLO: 68, DECISION: 5, STATS: 20, BYE: 4}
STUB_SHA256 = bytes(range(32))
STUB_H = STUB_W = 16

# Exit statuses from firmware/app/pk_hal.h.
EXIT_CAMERA, EXIT_PREPROCESS, EXIT_FAULT_BASE = 3, 4, 64
HARDFAULT = 3

HAVE_CROSS = shutil.which("arm-none-eabi-gcc") is not None
HAVE_QEMU = shutil.which("qemu-system-arm") is not None
needs_cross = pytest.mark.skipif(not HAVE_CROSS, reason="arm-none-eabi-gcc missing: make setup")
needs_qemu = pytest.mark.skipif(
    not (HAVE_CROSS and HAVE_QEMU), reason="arm-none-eabi-gcc/qemu-system-arm missing: make setup"
)

# ---- stub model, frame banks, builds ----------------------------------------------------

STUB_H_TEXT = f"""\
/* Test-only stub model (tests/test_firmware.py): person iff mean(input) > 0. */
#ifndef PEEKLESS_MODEL_H
#define PEEKLESS_MODEL_H
#include <stdint.h>
#define PEEKLESS_MODEL_INPUT_H {STUB_H}
#define PEEKLESS_MODEL_INPUT_W {STUB_W}
#define PEEKLESS_MODEL_INPUT_C 1
#define PEEKLESS_MODEL_INPUT_BYTES ({STUB_H} * {STUB_W} * 1)
#define PEEKLESS_MODEL_OUTPUT_BYTES 2
#define PEEKLESS_MODEL_ARENA_BYTES 64
#define PEEKLESS_MODEL_PERSON_INDEX 1
#define PEEKLESS_MODEL_SHA256_HEX "{STUB_SHA256.hex()}"
#define PEEKLESS_MODEL_SHA256_BYTES {{{", ".join(str(b) for b in STUB_SHA256)}}}
extern int8_t peekless_model_arena[];
int peekless_model_invoke(const int8_t *input, int8_t *output);
#endif
"""

STUB_C_TEXT = """\
#include "peekless_model.h"

int8_t peekless_model_arena[PEEKLESS_MODEL_ARENA_BYTES];

int peekless_model_invoke(const int8_t *input, int8_t *output)
{
    int32_t sum = 0;
#ifdef STUB_FAULT
    sum = *(volatile int32_t *)0x30000000u; /* unmapped on mps2-an386: HardFault */
#endif
    for (int i = 0; i < PEEKLESS_MODEL_INPUT_BYTES; i++) {
        sum += input[i];
        peekless_model_arena[i % PEEKLESS_MODEL_ARENA_BYTES] ^= input[i];
    }
    /* Float work (exact here): on an386 it faults unless startup enabled the FPU. */
    volatile float half = 0.5f;
    sum = (int32_t)((float)sum * half * 2.0f);
    output[1] = sum > 0 ? 1 : -1;
    output[0] = (int8_t)-output[1];
    return 0;
}
"""


def write_stub_model(folder: Path, fault: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "peekless_model.h").write_text(STUB_H_TEXT)
    prefix = "#define STUB_FAULT 1\n" if fault else ""
    (folder / "peekless_model.c").write_text(prefix + STUB_C_TEXT)
    return folder


BPP = {0: 1, 1: 3, 2: 2, 3: 2}  # frame bank format code -> bytes per pixel


def write_bank(
    path: Path, frames: list[bytes], w: int, h: int, channels: int = 1, fmt: int | None = None
) -> Path:
    """A PKFB bank; fmt 0 GRAY8, 1 RGB888, 2 RGB565, 3 YUYV (channels = bytes per pixel)."""
    if fmt is None:
        fmt = 0 if channels == 1 else 1
    header = b"PKFB" + struct.pack("<IIHHBB", 1, len(frames), w, h, BPP.get(fmt, channels), fmt)
    header += bytes(32 - len(header))
    path.write_bytes(header + b"".join(frames))
    return path


def expected_person(frame: bytes) -> bool:
    return sum(p - 128 for p in frame) > 0


# Engine objects shared by every build with the same compiler flags (firmware/Makefile).
ENGINE_CACHE = Path(tempfile.gettempdir()) / f"peekless-engine-cache-{os.getuid()}"


def make_args(board: str, build: str, model: Path, out: Path, leak: str | None = None) -> list[str]:
    args = [
        "make",
        "-C",
        str(FIRMWARE),
        f"-j{os.cpu_count() or 1}",
        f"BOARD={board}",
        f"BUILD={build}",
        f"MODEL_DIR={model}",
        f"OUT={out}",
        f"ENGINE_CACHE={ENGINE_CACHE}",
    ]
    return args + ([f"LEAK={leak}"] if leak else [])


def build(board: str, build_kind: str, model: Path, out: Path, leak: str | None = None) -> Path:
    proc = subprocess.run(
        make_args(board, build_kind, model, out, leak), capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / ("peekless" if board == "host" else "peekless.elf")


@pytest.fixture(scope="module")
def stub_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_stub_model(tmp_path_factory.mktemp("stub_model"))


@pytest.fixture(scope="module")
def frames() -> list[bytes]:
    rng = random.Random(1234)
    n = STUB_H * STUB_W
    fixed = [bytes([200]) * n, bytes([50]) * n, bytes([128]) * n]  # person, not, tie = not
    noisy = [bytes(rng.randrange(256) for _ in range(n)) for _ in range(3)]
    return fixed + noisy


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory, frames: list[bytes]) -> Path:
    return write_bank(tmp_path_factory.mktemp("bank") / "bank.pkfb", frames, STUB_W, STUB_H)


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, stub_model: Path):
    """Build a variant on first use: builds(board, kind, leak=None) -> image path."""
    root = tmp_path_factory.mktemp("fw")
    cache: dict[tuple, Path] = {}

    def get(board: str, kind: str, leak: str | None = None) -> Path:
        key = (board, kind, leak)
        if key not in cache:
            out = root / f"{board}-{kind}-{leak or 'clean'}"
            cache[key] = build(board, kind, stub_model, out, leak)
        return cache[key]

    return get


# ---- decoding the link ---------------------------------------------------------------


@dataclass
class Record:
    type: int
    payload: bytes


def decode(capture: bytes, strict: bool = True) -> list[Record]:
    """Split on 0x00, COBS-decode, check CRC and size. strict: any bad frame fails."""
    *frames, tail = capture.split(b"\x00")
    if strict:
        assert tail == b"", f"{len(tail)} bytes after the last delimiter"
    records = []
    for raw in frames:
        try:
            body = cobs.decode(raw)
            ok = len(body) >= 5 and zlib.crc32(body[:-4]) == struct.unpack("<I", body[-4:])[0]
            ok = ok and PAYLOAD_BYTES.get(body[0]) == len(body) - 5
        except cobs.DecodeError:
            ok = False
        if not ok:
            assert not strict, f"bad frame {raw[:40].hex()}"
            continue
        records.append(Record(body[0], body[1:-4]))
    return records


def check_hello(rec: Record, build_kind: int, board: str) -> None:
    assert rec.type == HELLO
    p = rec.payload
    assert p[0:4] == bytes([2, build_kind, 0, 1])  # proto, build kind, per-frame, 1 bit
    assert p[4:16] == b"0.1.0".ljust(12, b"\0")
    assert p[16:28] == board.encode().ljust(12, b"\0")
    assert p[28:60] == STUB_SHA256
    assert p[60:68] == bytes([0, 1, 1, 0, 1, 0, 1, 1])  # decision rule: argmax


def check_hil_records(records: list[Record], frames: list[bytes], board: str) -> tuple:
    """HELLO, one DECISION per frame with the stub's answer, STATS, BYE. Returns STATS."""
    assert [r.type for r in records] == [HELLO] + [DECISION] * len(frames) + [STATS, BYE]
    check_hello(records[0], 1, board)
    for i, (rec, frame) in enumerate(zip(records[1:-2], frames)):
        assert rec.payload == struct.pack("<IB", i, int(expected_person(frame))), f"frame {i}"
    stats = struct.unpack("<IIIQ", records[-2].payload)
    assert stats[0] == len(frames)
    assert records[-1].payload == struct.pack("<I", len(frames))
    return stats


# ---- protocol building blocks (host C harness) ------------------------------------------

HARNESS_C = r"""
#include <stdio.h>
#include "pk_link.h"
void pk_hal_serial_write(const uint8_t *d, size_t n) { fwrite(d, 1, n, stdout); }
int main(void)
{
    static uint8_t in[1024], out[1100];
    uint32_t n;
    while (fread(&n, 4, 1, stdin) == 1 && fread(in, 1, n, stdin) == n) {
        uint32_t crc = pk_crc32(0, in, n);
        uint32_t m = (uint32_t)pk_cobs_encode(in, n, out, sizeof out);
        fwrite(&crc, 4, 1, stdout); fwrite(&m, 4, 1, stdout); fwrite(out, 1, m, stdout);
    }
    return 0;
}
"""


def test_crc32_and_cobs_match_python(tmp_path: Path) -> None:
    (tmp_path / "harness.c").write_text(HARNESS_C)
    exe = tmp_path / "harness"
    subprocess.run(
        [
            "gcc",
            "-std=c99",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{FIRMWARE / 'app'}",
            str(tmp_path / "harness.c"),
            str(FIRMWARE / "app" / "pk_link.c"),
            "-o",
            str(exe),
        ],
        check=True,
    )
    rng = random.Random(7)
    cases = [
        b"",
        b"\0",
        b"\0\0",
        b"\x01",
        bytes([1]) * 253,
        bytes([1]) * 254,
        bytes([1]) * 255,
        bytes([1]) * 508,
        bytes([1]) * 254 + b"\0",
    ]
    cases += [
        bytes(rng.choice([0, 1, 255, rng.randrange(256)]) for _ in range(rng.randrange(600)))
        for _ in range(40)
    ]
    stdin = b"".join(struct.pack("<I", len(c)) + c for c in cases)
    out = subprocess.run([str(exe)], input=stdin, capture_output=True, check=True).stdout
    for case in cases:
        crc, m = struct.unpack_from("<II", out)
        assert crc == zlib.crc32(case), case.hex()
        assert out[8 : 8 + m] == cobs.encode(case), case.hex()
        out = out[8 + m :]
    assert out == b""


# ---- builds ---------------------------------------------------------------------------


def test_host_hil_run(builds, bank: Path, frames: list[bytes]) -> None:
    proc = subprocess.run(
        [str(builds("host", "hil")), str(bank)], capture_output=True, check=False, timeout=30
    )
    assert proc.returncode == 0
    stats = check_hil_records(decode(proc.stdout), frames, "host")
    assert stats[1:] == (0, 0, 0)  # the host has no instruction counter


@pytest.mark.parametrize(
    "bad", ["magic", "too_big", "format", "yuyv_odd_width", "truncated", "missing"]
)
def test_host_hil_bad_bank_exits_nonzero_after_hello_only(builds, tmp_path, frames, bad) -> None:
    path = tmp_path / "bad.pkfb"
    if bad == "too_big":  # valid bank, a row wider than the 1280-byte camera line buffer
        write_bank(path, [bytes(1281 * 2)], 1281, 2)
    elif bad == "format":  # unknown pixel format code
        write_bank(path, [bytes(64)], 8, 8, channels=1, fmt=9)
    elif bad == "yuyv_odd_width":  # the bank is fine, preprocessing refuses it
        write_bank(path, [bytes(7 * 4 * 2)], 7, 4, fmt=3)
    elif bad != "missing":
        write_bank(path, frames, STUB_W, STUB_H)
        data = path.read_bytes()
        path.write_bytes(b"XKFB" + data[4:] if bad == "magic" else data[:-1])
    proc = subprocess.run(
        [str(builds("host", "hil")), str(path)], capture_output=True, check=False, timeout=30
    )
    # Any format and size whose rows fit the line buffer reaches preprocessing, which
    # refuses only geometry it cannot handle (odd-width YUYV).
    want = EXIT_PREPROCESS if bad == "yuyv_odd_width" else EXIT_CAMERA
    assert proc.returncode == want
    records = decode(proc.stdout)  # strict: nothing unframed
    assert [r.type for r in records] == [HELLO]


def test_host_hil_streams_frames_bigger_than_any_buffer(builds, tmp_path: Path) -> None:
    """Frames are streamed row by row: a 1280x180 GRAY8 frame and a 640x300 RGB565 one
    (230 KB and 384 KB, more than the whole old framebuffer) run, with the decisions the
    stub model makes from the Python preprocessing of the same bytes."""
    from training import camera_preprocess as cp

    rng = random.Random(5)
    for w, h, fmt in ((1280, 180, cp.FORMAT_GRAY8), (640, 300, cp.FORMAT_RGB565)):
        n = w * h * cp.BYTES_PER_PIXEL[fmt]
        frames = [bytes([lo + rng.randrange(40) for _ in range(n)]) for lo in (150, 60, 100)]
        path = write_bank(tmp_path / f"big{fmt}.pkfb", frames, w, h, fmt=fmt)
        proc = subprocess.run([str(builds("host", "hil")), str(path)], capture_output=True,
                              check=False, timeout=60)  # fmt: skip
        assert proc.returncode == 0, (w, h, fmt)
        got = [struct.unpack("<IB", r.payload)[1] for r in decode(proc.stdout)
               if r.type == DECISION]  # fmt: skip
        inputs = [cp.preprocess_frame(f, w, h, fmt, STUB_H, STUB_W, 1) for f in frames]
        assert got == [int(x.astype(int).sum() > 0) for x in inputs], (w, h, fmt)


def test_make_twice_is_a_noop(builds, stub_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "noop"
    build("host", "hil", stub_model, out)
    assert (
        subprocess.run(make_args("host", "hil", stub_model, out) + ["-q"], check=False).returncode
        == 0
    )
    # Changing a build option in the same OUT must rebuild.
    q = subprocess.run(make_args("host", "production", stub_model, out) + ["-q"], check=False)
    assert q.returncode != 0


@pytest.mark.parametrize(
    "args",
    [
        ["BUILD=production", "LEAK=raw_frame"],
        ["BUILD=production", "LEAK=ram_remnant"],
        ["LEAK=other"],
        ["LEAK=raw_frame hex_frame"],
        ["BOARD=nope"],
        ["BUILD=debug"],
        ["POLICY=sometimes"],
    ],
)
def test_make_rejects_bad_configurations(stub_model: Path, tmp_path: Path, args) -> None:
    cmd = make_args("host", "hil", stub_model, tmp_path / "x") + args
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and "***" in proc.stderr


@needs_cross
@pytest.mark.parametrize("board, ram_bytes", [("an386", 4 << 20), ("an547", 512 << 10)])
def test_a_model_too_big_for_the_ram_fails_at_link_time_naming_it(
    tmp_path: Path, board: str, ram_bytes: int
) -> None:
    """The compile-time arena must not fit: the link fails, naming the model, the board
    and the bytes missing (ld's own count)."""
    arena = ram_bytes + 100_000
    model = write_stub_model(tmp_path / "huge")
    header = (model / "peekless_model.h").read_text()
    header = header.replace("#define PEEKLESS_MODEL_ARENA_BYTES 64",
                            f"#define PEEKLESS_MODEL_ARENA_BYTES {arena}")  # fmt: skip
    first = "/* Generated by peekless-compiler 0.1.0 from huge_vww.tflite (sha256 00). */\n"
    (model / "peekless_model.h").write_text(first + header)
    proc = subprocess.run(make_args(board, "production", model, tmp_path / "out"),
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert proc.returncode != 0
    ld = re.search(r"region `RAM' overflowed by (\d+) bytes", proc.stderr)
    assert ld, proc.stderr[-2000:]
    missing = int(ld.group(1))
    assert missing > 100_000  # the arena alone is 100,000 bytes over
    assert (
        f"peekless: model huge_vww.tflite does not fit board {board}: {missing} bytes of RAM "
        f"missing (the model's arena is {arena} bytes" in proc.stderr
    ), proc.stderr[-2000:]


def _symbols(elf: Path) -> list[str]:
    nm = subprocess.run(
        ["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True
    ).stdout
    return [line.split()[-1] for line in nm.splitlines()]


@needs_cross
def test_production_links_no_test_input_path(builds) -> None:
    names = _symbols(builds("an386", "production"))
    assert "main" in names and "pk_hal_camera_begin" in names
    bad = [n for n in names if any(w in n.lower() for w in ("bank", "semihost", "leak"))]
    assert bad == []
    # The HIL image does have them, so the check above can see them.
    assert any("bank" in n for n in _symbols(builds("an386", "hil")))


@needs_cross
@pytest.mark.parametrize("kind", ["hil", "production"])
def test_an386_uses_no_heap_and_keeps_clear_of_the_bank(builds, kind: str) -> None:
    elf = builds("an386", kind)
    names = _symbols(elf)
    assert not {"malloc", "free", "calloc", "realloc", "_sbrk", "_malloc_r"} & set(names)
    size = (elf.parent / "size.txt").read_text()
    for line in size.splitlines()[2:]:
        parts = line.split()
        if len(parts) == 3 and int(parts[2]) >= 0x20000000:
            assert int(parts[2]) + int(parts[1]) <= 0x20400000, line  # inside the 4 MiB SRAM


# ---- emulator ---------------------------------------------------------------------------


def test_qemu_command_line() -> None:
    cmd = emulator.qemu_command(Path("fw.elf"), frame_bank=Path("b.pkfb"), serial_port=4321)
    text = " ".join(cmd)
    assert text.startswith("qemu-system-arm -machine mps2-an386 -cpu cortex-m4 -nographic")
    assert "-icount shift=0,align=off,sleep=off" in text
    assert "-device loader,file=b.pkfb,addr=0x21000000,force-raw=on" in text
    assert "port=4321,server=on,wait=on,nodelay=on -serial chardev:s0" in text
    plain = emulator.qemu_command(Path("fw.elf"), icount=False, semihosting=False)
    assert "-icount" not in plain and "-semihosting-config" not in plain


def test_missing_qemu_says_run_make_setup(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(emulator.shutil, "which", lambda _name: None)
    with pytest.raises(emulator.EmulatorError, match="make setup"):
        emulator.run_capture(tmp_path / "fw.elf")


@pytest.mark.emulator
@needs_qemu
def test_an386_hil_run(builds, bank: Path, frames: list[bytes]) -> None:
    runs = [
        emulator.run_capture(builds("an386", "hil"), frame_bank=bank, timeout_s=60)
        for _ in range(2)
    ]
    for run in runs:
        assert run.exit_code == 0, run.stderr
    frames_n, insn_min, insn_max, insn_total = check_hil_records(
        decode(runs[0].capture), frames, "an386"
    )
    assert 0 < insn_min <= insn_max and insn_min * frames_n <= insn_total <= insn_max * frames_n
    assert insn_min % 40 == 0  # TIMER0 ticks once per 40 instructions under -icount shift=0
    # -icount shift=0 makes the counts (and so the whole capture) deterministic.
    assert runs[0].capture == runs[1].capture


@pytest.mark.emulator
@needs_qemu
def test_an386_leak_variant_leaks_raw_frames(builds, bank: Path, frames) -> None:
    clean = emulator.run_capture(builds("an386", "hil"), frame_bank=bank, timeout_s=60)
    leaky = emulator.run_capture(builds("an386", "hil", "raw_frame"), frame_bank=bank, timeout_s=60)
    assert leaky.exit_code == 0, leaky.stderr
    for frame in frames:
        assert frame in leaky.capture
        assert frame not in clean.capture
    # Unframed bytes run into the next record up to its delimiter, so the record after
    # each leaked frame is lost to the decoder; the run still ends with BYE.
    assert decode(leaky.capture, strict=False)[-1].type == BYE


@pytest.mark.emulator
@needs_qemu
def test_an386_without_bank_exits_nonzero(builds) -> None:
    run = emulator.run_capture(builds("an386", "hil"), timeout_s=30)  # RAM there reads 0
    assert run.exit_code == EXIT_CAMERA
    assert [r.type for r in decode(run.capture)] == [HELLO]


@pytest.mark.emulator
@needs_qemu
def test_an386_fault_exits_with_exception_number(tmp_path: Path, bank: Path) -> None:
    model = write_stub_model(tmp_path / "fault_model", fault=True)
    elf = build("an386", "hil", model, tmp_path / "fw")
    run = emulator.run_capture(elf, frame_bank=bank, timeout_s=30)
    assert run.exit_code == EXIT_FAULT_BASE + HARDFAULT
    assert [r.type for r in decode(run.capture)] == [HELLO]


@pytest.mark.emulator
@needs_qemu
def test_an386_production_streams_decisions_forever(builds) -> None:
    with emulator.start(builds("an386", "production")) as emu:
        link = emu.open_serial(timeout=0.2)
        data = b""
        deadline = time.monotonic() + 20
        while data.count(b"\0") < 20 and time.monotonic() < deadline:
            data += link.read(256)
        assert emu.process.poll() is None  # still running: production never exits
    records = decode(data[: data.rindex(b"\0") + 1])
    check_hello(records[0], 0, "an386")
    decisions = records[1:]
    assert len(decisions) >= 19 and {r.type for r in decisions} == {DECISION}
    seqs = [struct.unpack("<IB", r.payload) for r in decisions]
    assert [s for s, _ in seqs] == list(range(len(seqs)))
    assert {f for _, f in seqs} <= {0, 1}


# ---- deliberately leaky variants (TEST ONLY, for the privacy audit) ------------------

LEAKS = [
    "raw_frame",
    "hex_frame",
    "base64_frame",
    "zlib_thumbnail",
    "pixel_bit",
    "extra_record",
    "ram_remnant",
]
EXTRA_RECORD = 0x05


def thumbnail_24(frame: bytes, w: int, h: int) -> bytes:
    """The zlib_thumbnail leak's picture of a GRAY8 frame: nearest (x*W/24, y*H/24)."""
    return bytes(frame[(y * h // 24) * w + x * w // 24] for y in range(24) for x in range(24))


def framed_records(capture: bytes, extra: dict[int, int] | None = None) -> list[Record]:
    """Every well-framed record (CRC good), also of types not in the protocol."""
    sizes = {**PAYLOAD_BYTES, **(extra or {})}
    out = []
    for raw in capture.split(b"\x00")[:-1]:
        try:
            body = cobs.decode(raw)
        except cobs.DecodeError:
            continue
        crc_ok = len(body) >= 5 and zlib.crc32(body[:-4]) == struct.unpack("<I", body[-4:])[0]
        if crc_ok and sizes.get(body[0]) == len(body) - 5:
            out.append(Record(body[0], body[1:-4]))
    return out


def assert_leak_present(leak: str, capture: bytes, frames: list[bytes]) -> None:
    """The capture carries the named leak for every frame (ram_remnant: nothing here)."""
    import base64

    if leak == "raw_frame":
        assert all(f in capture for f in frames)
    elif leak == "hex_frame":
        assert all(f.hex().encode() in capture for f in frames)
    elif leak == "base64_frame":
        assert all(base64.b64encode(f) in capture for f in frames)
    elif leak == "zlib_thumbnail":
        streams = set()
        at = capture.find(b"\x78\x01")
        while at >= 0:
            d = zlib.decompressobj()
            try:
                data = d.decompress(capture[at : at + 2 + 5 + 576 + 4])
                if d.eof:
                    streams.add(data)
            except zlib.error:
                pass
            at = capture.find(b"\x78\x01", at + 1)
        for f in frames:
            assert thumbnail_24(f, STUB_W, STUB_H) in streams
    elif leak == "pixel_bit":
        decisions = [r for r in decode(capture) if r.type == DECISION]
        assert len(decisions) == len(frames)
        for r, f in zip(decisions, frames):
            seq, flags = struct.unpack("<IB", r.payload)
            assert flags >> 1 == f[seq % len(f)] & 1 and flags & ~3 == 0
        assert any(struct.unpack("<IB", r.payload)[1] & 2 for r in decisions)
    elif leak == "extra_record":
        recs = framed_records(capture, {EXTRA_RECORD: 16})
        assert [r.payload for r in recs if r.type == EXTRA_RECORD] == [f[:16] for f in frames]
    elif leak == "ram_remnant":
        decode(capture)  # the link stays clean: the leak is in RAM
    else:
        raise AssertionError(leak)


@pytest.fixture(scope="module")
def leak_frames() -> list[bytes]:
    """Random frames (no run of one value, so every window is telling)."""
    rng = random.Random(99)
    return [bytes(rng.randrange(256) for _ in range(STUB_H * STUB_W)) for _ in range(4)]


@pytest.fixture(scope="module")
def leak_bank(tmp_path_factory: pytest.TempPathFactory, leak_frames: list[bytes]) -> Path:
    return write_bank(tmp_path_factory.mktemp("leakbank") / "bank.pkfb", leak_frames, 16, 16)


@pytest.mark.parametrize("leak", LEAKS)
def test_host_leak_variant_builds_runs_and_leaks(builds, leak_bank, leak_frames, leak) -> None:
    def run(image: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(image), str(leak_bank)], capture_output=True, timeout=30, check=False
        )

    proc = run(builds("host", "hil", leak))
    assert proc.returncode == 0
    assert_leak_present(leak, proc.stdout, leak_frames)
    clean = run(builds("host", "hil"))
    assert (proc.stdout == clean.stdout) == (leak == "ram_remnant")


@needs_cross
def test_clean_hil_image_links_no_leak_code(builds) -> None:
    names = set(_symbols(builds("an386", "hil")))
    assert not any("leak" in n for n in names)
    assert "pk_hil_checkpoint" in names
    assert any("leak" in n for n in _symbols(builds("an386", "hil", "raw_frame")))


@pytest.mark.emulator
@needs_qemu
@pytest.mark.parametrize("leak", ["raw_frame", "zlib_thumbnail", "pixel_bit", "extra_record"])
def test_an386_leak_variant_leaks(builds, leak_bank, leak_frames, leak) -> None:
    run = emulator.run_capture(builds("an386", "hil", leak), frame_bank=leak_bank, timeout_s=60)
    assert run.exit_code == 0, run.stderr
    assert_leak_present(leak, run.capture, leak_frames)


@pytest.mark.emulator
@needs_qemu
@pytest.mark.parametrize("leak", [None, "ram_remnant"])
def test_an386_ram_readback_at_checkpoint(builds, leak_bank, leak_frames, leak) -> None:
    """After each frame's wipe no window of it is in RAM; ram_remnant is caught."""
    elf = builds("an386", "hil", leak)
    run = ram_readback.run_with_readback(elf, "an386", frame_bank=leak_bank, timeout_s=60)
    assert run.exit_code == 0, run.stderr
    assert [s.seq for s in run.snapshots] == list(range(len(leak_frames)))
    assert decode(run.capture)[-1].type == BYE
    for snap in run.snapshots:
        found = ram_readback.find_windows(snap, leak_frames[: snap.seq + 1])
        if leak is None:
            assert found == [], f"frame {snap.seq}: {found[:5]}"
        else:  # the current frame, whole, still in the framebuffer
            current = {off for k, off, _ in found if k == snap.seq}
            assert current == set(range(STUB_H * STUB_W - 7)), f"frame {snap.seq}"


# ---- event-only policy -------------------------------------------------------------------


@pytest.mark.parametrize(
    "board", ["host", pytest.param("an386", marks=[pytest.mark.emulator, needs_qemu])]
)
def test_event_policy_emits_only_changes(stub_model, tmp_path: Path, board: str) -> None:
    person, nobody = bytes([200]) * (STUB_H * STUB_W), bytes([50]) * (STUB_H * STUB_W)
    frames = [person, person, nobody, nobody, nobody, person, nobody, nobody]
    bank = write_bank(tmp_path / "bank.pkfb", frames, STUB_W, STUB_H)
    cmd = make_args(board, "hil", stub_model, tmp_path / "fw") + ["POLICY=event"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if board == "host":
        run = subprocess.run(
            [str(tmp_path / "fw" / "peekless"), str(bank)], capture_output=True, check=False
        )
        capture, code = run.stdout, run.returncode
    else:
        r = emulator.run_capture(tmp_path / "fw" / "peekless.elf", frame_bank=bank, timeout_s=60)
        capture, code = r.capture, r.exit_code
    assert code == 0
    records = decode(capture)
    assert records[0].type == HELLO and records[0].payload[2:4] == bytes([1, 1])  # event, 1 bit
    decisions = [struct.unpack("<IB", r.payload) for r in records if r.type == DECISION]
    assert decisions == [(0, 1), (2, 0), (5, 1), (6, 0)]
    assert [r.type for r in records[-2:]] == [STATS, BYE]
    assert struct.unpack("<I", records[-1].payload)[0] == len(frames)


# ---- host-to-device commands (HIL) ---------------------------------------------------------

PING, STOP, LIMIT, PONG = 0x81, 0x82, 0x83, 0x06


def command(kind: int, payload: bytes = b"") -> bytes:
    body = bytes([kind]) + payload
    return cobs.encode(body + struct.pack("<I", zlib.crc32(body))) + b"\x00"


NONCE = struct.pack("<I", 0xDEADBEEF)
COMMAND_CASES = [
    # PING is answered with PONG; LIMIT 2 ends the run after two frames.
    (command(PING, NONCE) + command(LIMIT, struct.pack("<I", 2)), [NONCE], 2),
    (command(STOP), [], 0),
    # Garbage, a bad CRC and an unknown type are dropped; the run goes on to the end.
    (b"\x05\x01\x02\x00" + command(PING, NONCE)[:-3] + b"\x00" + command(0x99), [], 6),
]


@pytest.mark.parametrize("commands, pongs, frames_done", COMMAND_CASES)
def test_host_hil_commands(builds, bank, tmp_path, commands, pongs, frames_done) -> None:
    cmds = tmp_path / "cmds.bin"
    cmds.write_bytes(commands)
    proc = subprocess.run(
        [str(builds("host", "hil")), str(bank), str(cmds)], capture_output=True, check=False
    )
    assert proc.returncode == 0
    recs = framed_records(proc.stdout, {PONG: 4})
    assert [r.payload for r in recs if r.type == PONG] == pongs
    assert [r.type for r in recs if r.type == DECISION] == [DECISION] * frames_done
    assert recs[-1].type == BYE and struct.unpack("<I", recs[-1].payload)[0] == frames_done


@pytest.mark.skipif(shutil.which("clang") is None, reason="clang missing: apt-get install clang")
def test_command_parser_fuzz_smoke(tmp_path: Path) -> None:
    """A short libFuzzer run (the 1 M-execution one is `make -C firmware fuzz`)."""
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "fuzz_command_parser.sh"), "20000"],
        capture_output=True, text=True, check=False, env={**os.environ, "FUZZ_OUT": str(tmp_path)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "stat::number_of_executed_units: 20000" in proc.stdout
