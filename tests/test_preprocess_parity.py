"""Device preprocessing (firmware/app/pk_preprocess.c) equals the Python twin
(training/camera_preprocess.py) byte for byte, for every camera format, on random frames.

The C side is the firmware's own source file compiled into a small host harness that
feeds it the frame one camera row at a time through a one-row line buffer, as the
firmware does, and asks for model input rows one at a time, all at once or in random
bands (as a streaming model does); it also checks every camera row is read once. The
integration tests on the emulated boards (tests/test_boards.py) then check that what the
device decides from its own preprocessing equals LiteRT on the Python preprocessing.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from training import camera_preprocess as cp

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "firmware" / "app"

HARNESS_C = r"""
#include <stdio.h>
#include <string.h>
#include "pk_preprocess.h"

/* stdin: cases of  w:u16 h:u16 fmt:u8 mh:u16 mw:u16 mc:u8 chunk:u16  then the frame.
 * The frame is fed to pk_preprocess.c row by row through a one-row line buffer, as the
 * camera does; model rows are asked for `chunk` at a time (the last request shorter).
 * stdout: per case  status:i32  then mh*mw*mc int8 bytes when status is 0. */
static uint8_t frame[320 * 240 * 3 + 64];
static int8_t out[256 * 256 * 3];
static uint8_t line[320 * 3];
static uint32_t acc[256 * 3];

typedef struct {
    const uint8_t *next; /* the frame's next row */
    size_t pitch;
    unsigned rows_left, calls;
} camera;

/* The row source: one row per call, in order, never past the frame. */
static int camera_rows(void *ctx, uint8_t *dst, size_t capacity, uint16_t nrows)
{
    camera *c = ctx;
    if (nrows != 1 || nrows > c->rows_left || nrows * c->pitch > capacity) {
        return -99;
    }
    memset(dst, 0xEE, capacity); /* bytes past the row must not matter */
    memcpy(dst, c->next, c->pitch);
    c->next += c->pitch;
    c->rows_left--;
    c->calls++;
    return 0;
}

static int get(void *p, size_t n) { return fread(p, 1, n, stdin) == n; }

int main(void)
{
    uint16_t w, h, mh, mw, chunk;
    uint8_t f, mc;
    while (get(&w, 2) && get(&h, 2) && get(&f, 1) && get(&mh, 2) && get(&mw, 2) && get(&mc, 1)
           && get(&chunk, 2)) {
        pk_format fmt = {w, h, f, 0};
        fmt.pitch = (uint32_t)pk_format_row_bytes(&fmt);
        size_t n = pk_format_frame_bytes(&fmt);
        if (n > sizeof frame || (size_t)mh * mw * mc > sizeof out || !get(frame, n)) {
            return 2;
        }
        camera cam = {frame, fmt.pitch, h, 0};
        pk_pre_io io = {line, sizeof line, acc, sizeof acc / sizeof acc[0], camera_rows, &cam};
        pk_pre_stream s;
        int32_t rc = pk_pre_begin(&s, &fmt, mh, mw, mc, &io);
        for (uint32_t row = 0; rc == 0 && row < mh; row += chunk) {
            uint16_t k = (uint16_t)(mh - row < chunk ? mh - row : chunk);
            rc = pk_pre_rows(&s, (uint16_t)row, k, out + (size_t)row * mw * mc);
        }
        if (rc == 0) {
            rc = pk_pre_finish(&s);
        }
        /* Every camera row was read exactly once, and nothing more. */
        if (rc == 0 && (cam.rows_left != 0 || cam.calls != h)) {
            rc = -100;
        }
        fwrite(&rc, 4, 1, stdout);
        if (rc == 0) {
            fwrite(out, 1, (size_t)mh * mw * mc, stdout);
        }
    }
    return 0;
}
"""

FORMATS = [cp.FORMAT_GRAY8, cp.FORMAT_RGB888, cp.FORMAT_RGB565, cp.FORMAT_YUYV]
FRAME_SIZES = [(320, 240), (160, 120), (176, 144), (96, 96), (100, 60), (40, 90), (2, 1), (64, 64)]
MODEL_SHAPES = [(96, 96, 1), (96, 96, 3), (64, 80, 3), (7, 5, 1), (128, 128, 1)]


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc missing")
    d = tmp_path_factory.mktemp("pre")
    (d / "harness.c").write_text(HARNESS_C)
    exe = d / "harness"
    flags = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fsanitize=undefined"]
    subprocess.run(
        ["gcc", *flags, "-fno-sanitize-recover", f"-I{APP}", str(d / "harness.c"),
         str(APP / "pk_preprocess.c"), "-o", str(exe)],
        check=True,
    )  # fmt: skip
    return exe


def run_device(exe: Path, cases: list[tuple], chunk: int | list[int] = 1) -> list[np.ndarray | int]:
    """Run the C preprocessing on (frame, w, h, fmt, mh, mw, mc) cases, row by row,
    asking for ``chunk`` model rows at a time (one value per case, or one for all)."""
    chunks = chunk if isinstance(chunk, list) else [chunk] * len(cases)
    stdin = b"".join(
        struct.pack("<HHBHHBH", w, h, fmt, mh, mw, mc, k) + frame
        for (frame, w, h, fmt, mh, mw, mc), k in zip(cases, chunks)
    )
    out = subprocess.run([str(exe)], input=stdin, capture_output=True, check=True).stdout
    results: list[np.ndarray | int] = []
    for _, _, _, _, mh, mw, mc in cases:
        (rc,) = struct.unpack_from("<i", out)
        out = out[4:]
        if rc:
            results.append(rc)
            continue
        n = mh * mw * mc
        results.append(np.frombuffer(out[:n], dtype=np.int8).reshape(mh, mw, mc))
        out = out[n:]
    assert out == b""
    return results


def random_frame(rng: np.random.Generator, w: int, h: int, fmt: int) -> bytes:
    return rng.integers(0, 256, cp.frame_bytes(w, h, fmt), dtype=np.uint8).tobytes()


def assert_equal(device: np.ndarray | int, host: np.ndarray, what: str) -> None:
    assert isinstance(device, np.ndarray), f"{what}: device refused with {device}"
    if not np.array_equal(device, host):
        pos = tuple(int(i) for i in np.argwhere(device != host)[0])
        raise AssertionError(
            f"{what}: first difference at {pos}: device {device[pos]}, python {host[pos]}"
        )


@pytest.mark.parametrize("fmt", FORMATS, ids=["gray8", "rgb888", "rgb565", "yuyv"])
def test_device_equals_python_on_random_frames(harness: Path, fmt: int) -> None:
    rng = np.random.default_rng(1000 + fmt)
    cases = []
    for w, h in FRAME_SIZES:
        for mh, mw, mc in MODEL_SHAPES:
            for _ in range(2):
                cases.append((random_frame(rng, w, h, fmt), w, h, fmt, mh, mw, mc))
    # Model rows asked for one at a time (as a fused first layer does) or all at once.
    chunks = [1 if i % 2 else 1000 for i in range(len(cases))]
    for case, device in zip(cases, run_device(harness, cases, chunks)):
        frame, w, h, _, mh, mw, mc = case
        host = cp.preprocess_frame(frame, w, h, fmt, mh, mw, mc)
        assert_equal(device, host, f"{w}x{h} fmt {fmt} -> {mh}x{mw}x{mc}")


def test_device_equals_python_on_random_geometry(harness: Path) -> None:
    rng = np.random.default_rng(7)
    cases = []
    for _ in range(300):
        fmt = int(rng.choice(FORMATS))
        w = int(rng.integers(1, 321))
        w += w % 2 if fmt == cp.FORMAT_YUYV else 0
        h = int(rng.integers(1, 241))
        mh, mw, mc = int(rng.integers(1, 129)), int(rng.integers(1, 129)), int(rng.choice([1, 3]))
        cases.append((random_frame(rng, w, h, fmt), w, h, fmt, mh, mw, mc))
    chunks = [int(rng.integers(1, c[4] + 1)) for c in cases]  # any band height
    for case, device in zip(cases, run_device(harness, cases, chunks)):
        frame, w, h, fmt, mh, mw, mc = case
        host = cp.preprocess_frame(frame, w, h, fmt, mh, mw, mc)
        assert_equal(device, host, f"{w}x{h} fmt {fmt} -> {mh}x{mw}x{mc}")


def test_the_largest_boxes_round_exactly(harness: Path) -> None:
    # The device divides by a reciprocal; its exactness bound is widest at the largest box
    # and the largest sums: all 255, all 254, random, and half-way sums, at 254x254 -> 1x1.
    rng = np.random.default_rng(3)
    frames = [bytes([255]) * 254 * 254, bytes([254]) * 254 * 254,
              random_frame(rng, 254, 254, cp.FORMAT_GRAY8),
              bytes([0, 1] * (254 * 127))]  # fmt: skip
    cases = [(f, 254, 254, cp.FORMAT_GRAY8, 1, 1, 1) for f in frames]
    cases += [(random_frame(rng, 255, 170, cp.FORMAT_RGB888), 255, 170, cp.FORMAT_RGB888, 1, 1, 3)]
    for case, device in zip(cases, run_device(harness, cases)):
        assert_equal(device, cp.preprocess_frame(*case), f"{case[1]}x{case[2]} -> 1x1")


def test_both_refuse_the_same_inputs(harness: Path) -> None:
    bad = [
        (bytes(7 * 2 * 2), 7, 2, cp.FORMAT_YUYV, 4, 4, 1),  # odd YUYV width
        (bytes(16), 4, 4, cp.FORMAT_GRAY8, 4, 4, 2),  # 2-channel model
        (bytes(16), 4, 4, cp.FORMAT_GRAY8, 0, 4, 1),  # empty model input
        (bytes(256 * 256), 256, 256, cp.FORMAT_GRAY8, 1, 1, 1),  # a box of 2^16 (+ margin)
    ]
    for case, device in zip(bad, run_device(harness, bad)):
        assert device == -1, case[1:]
        with pytest.raises(ValueError):
            cp.preprocess_frame(*case)


def test_known_values() -> None:
    """Spot checks of the written formulas, independent of both implementations."""
    # Same size gray: the identity, then -128.
    g = np.arange(16, dtype=np.uint8).reshape(4, 4).tobytes()
    assert cp.preprocess_frame(g, 4, 4, "gray8", 4, 4, 1).ravel().tolist() == [
        v - 128 for v in range(16)
    ]
    # RGB565 white and pure red widen to 255 by bit replication.
    white = struct.pack("<H", 0xFFFF)
    red = struct.pack("<H", 0xF800)
    assert cp.preprocess_frame(white, 1, 1, "rgb565", 1, 1, 3).ravel().tolist() == [127] * 3
    assert cp.preprocess_frame(red, 1, 1, "rgb565", 1, 1, 3).ravel().tolist() == [127, -128, -128]
    # Red to gray: (77 * 255 + 128) >> 8 = 77.
    assert cp.preprocess_frame(red, 1, 1, "rgb565", 1, 1, 1).ravel().tolist() == [77 - 128]
    # YUYV limited range: Y=235 is white, Y=16 black; U=V=128 is no colour.
    yuyv = bytes([235, 128, 16, 128])
    assert (
        cp.preprocess_frame(yuyv, 2, 1, "yuyv", 1, 2, 3).ravel().tolist() == [127] * 3 + [-128] * 3
    )
    # A 2x2 box: mean of 0, 1, 2, 4 = 1.75 -> 2 (rounded half up), then -128.
    box = bytes([0, 1, 2, 4])
    assert cp.preprocess_frame(box, 2, 2, "gray8", 1, 1, 1).ravel().tolist() == [2 - 128]
    # QVGA to a square model crops the centre 240x240: columns 40..279.
    q = np.zeros((240, 320), dtype=np.uint8)
    q[:, 40:280] = 255
    assert (cp.preprocess_frame(q.tobytes(), 320, 240, "gray8", 96, 96, 1) == 127).all()
