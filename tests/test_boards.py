"""The same integration tests on all three emulated boards (mps2-an386 Cortex-M4,
mps2-an500 Cortex-M7, mps3-an547 Cortex-M55).

For each board, with real compiled models (a ~100k-MAC gray model made here, and the
MLPerf VWW model on a few frames):

* device decisions equal LiteRT's reference kernels on the same preprocessed input
  (the Python twin, training/camera_preprocess.py), for every frame;
* at every ``pk_hil_checkpoint`` (after each frame's wipe) a RAM read-back over the GDB
  remote protocol finds no 8-byte window of any frame processed so far, raw or
  preprocessed, anywhere in RAM or in the frame bank;
* the production ELF passes host_tools.elf_check, and fails once an injection symbol is
  forced in;
* the instruction counter is calibrated (TIMER0 on mps2, SysTick on an547).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import camera_frames
import numpy as np
import pytest
from cobs import cobs

from host_tools import elf_check, emulator, ram_readback
from training import camera_preprocess as cp

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
BOARDS = ["an386", "an500", "an547"]
# Engine objects shared by every build with the same compiler flags (firmware/Makefile).
ENGINE_CACHE = Path(tempfile.gettempdir()) / f"peekless-engine-cache-{os.getuid()}"
HELLO, DECISION, STATS, BYE = 1, 2, 3, 4

needs_tools = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None,
    reason="arm-none-eabi-gcc/qemu-system-arm missing: make setup",
)
pytestmark = [pytest.mark.emulator, needs_tools]


# ---- models, builds -------------------------------------------------------------------


def calibration_inputs(n: int = 24) -> np.ndarray:
    """Gray model inputs (int8 [n, 96, 96, 1]) from camera frames of every format."""
    out = []
    for k, fmt in enumerate([cp.FORMAT_RGB565, cp.FORMAT_YUYV, cp.FORMAT_GRAY8]):
        for f in camera_frames.frames(seed=100 + k, n=n // 3, w=160, h=120, fmt=fmt):
            out.append(cp.preprocess_frame(f, 160, 120, fmt, 96, 96, 1))
    return np.stack(out)


def small_gray_model(path: Path, seed: int = 3) -> Path:
    """A ~100k-MAC 96x96 gray two-class int8 model (random weights, fixed seed).

    Random convolutions, then a last layer set so that the two logits are +-s/2 with s a
    random projection of the features minus its median over calibration frames: about
    half of all camera frames come out "person", so decisions exercise both values.
    Quantised with the calibration frames as representative data.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    inp = keras.Input((96, 96, 1), batch_size=1)
    x = keras.layers.Conv2D(4, 3, strides=4, padding="same", activation="relu")(inp)
    x = keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(8, 1, activation="relu")(x)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.AveragePooling2D(6)(x)
    feats = keras.layers.Reshape((-1,))(x)
    dense = keras.layers.Dense(2)
    model = keras.Model(inp, dense(feats))

    calib = (calibration_inputs().astype(np.float32) + 128.0) / 255.0
    f = keras.Model(inp, feats).predict(calib, verbose=0)
    v = np.random.default_rng(seed).normal(size=f.shape[1]).astype(np.float32)
    v /= np.std(f @ v) + 1e-6
    b = -np.median(f @ v)
    dense.set_weights([np.stack([-v / 2, v / 2], 1), np.array([-b / 2, b / 2], np.float32)])

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([c[None]] for c in calib)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    path.write_bytes(conv.convert())
    return path


def cached_small_gray_model() -> Path:
    """small_gray_model(), converted once per version of the code that makes it (TF
    conversion takes ~10 s) and kept beside the engine cache."""
    key = hashlib.sha256(
        (inspect.getsource(small_gray_model) + inspect.getsource(calibration_inputs)
         + inspect.getsource(camera_frames) + inspect.getsource(cp)).encode()
    ).hexdigest()[:16]  # fmt: skip
    path = ENGINE_CACHE.parent / f"peekless-test-models-{os.getuid()}" / f"small_{key}.tflite"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        small_gray_model(tmp)
        tmp.replace(path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, mlperf_tflite: Path) -> dict:
    """name -> (tflite, compiled model folder)."""
    from compiler import compile_model

    root = tmp_path_factory.mktemp("models")
    small = cached_small_gray_model()
    out = {}
    for name, tflite in (("small", small), ("mlperf", mlperf_tflite)):
        compile_model(tflite, root / name)
        out[name] = (tflite, root / name)
    return out


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, models: dict):
    """builds(board, model, kind, **make vars) -> ELF, built once per module."""
    root = tmp_path_factory.mktemp("fw")
    cache: dict[tuple, Path] = {}

    def get(board: str, model: str, kind: str = "hil", **make_vars: str) -> Path:
        key = (board, model, kind, tuple(sorted(make_vars.items())))
        if key not in cache:
            out = root / "-".join([board, model, kind, *(f"{k}{v}" for k, v in key[3])])
            out = Path(re.sub(r"[^\w/.-]", "_", str(out)))
            cmd = ["make", "-C", str(FIRMWARE), f"-j{os.cpu_count() or 1}", f"BOARD={board}",
                   f"BUILD={kind}", f"MODEL_DIR={models[model][1]}", f"OUT={out}",
                   f"ENGINE_CACHE={ENGINE_CACHE}"]  # fmt: skip
            cmd += [f"{k}={v}" for k, v in make_vars.items()]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            cache[key] = out / "peekless.elf"
        return cache[key]

    return get


# ---- helpers ----------------------------------------------------------------------------


def records(capture: bytes) -> list[tuple[int, bytes]]:
    """Strict decode: every byte in a good frame of a known type."""
    *raw, tail = capture.split(b"\0")
    assert tail == b""
    out = []
    for r in raw:
        body = cobs.decode(r)
        assert zlib.crc32(body[:-4]) == struct.unpack("<I", body[-4:])[0]
        out.append((body[0], body[1:-4]))
    return out


def reference_decisions(tflite: Path, inputs: np.ndarray) -> list[int]:
    from training.reference import litert_reference

    out = litert_reference(tflite, inputs)
    return [int(o[1] > o[0]) for o in out]  # PEEKLESS_MODEL_PERSON_INDEX = 1


def model_shape(model_dir: Path) -> tuple[int, int, int]:
    text = (model_dir / "peekless_model.h").read_text()
    dim = {k: int(re.search(rf"PEEKLESS_MODEL_INPUT_{k}\s+(\d+)", text).group(1)) for k in "HWC"}
    return dim["H"], dim["W"], dim["C"]


def run_and_check(
    board: str, elf: Path, tflite: Path, model_dir: Path, frames: list[bytes],
    w: int, h: int, fmt: int, bank: Path,
) -> dict:  # fmt: skip
    """Run under the read-back; check decisions and RAM. Returns STATS and timings."""
    mh, mw, mc = model_shape(model_dir)
    inputs = np.stack([cp.preprocess_frame(f, w, h, fmt, mh, mw, mc) for f in frames])
    want = reference_decisions(tflite, inputs)

    camera_frames.write_bank(bank, frames, w, h, fmt)
    run = ram_readback.run_with_readback(elf, board, frame_bank=bank, timeout_s=120)
    assert run.exit_code == 0, run.stderr
    recs = records(run.capture)
    assert [t for t, _ in recs] == [HELLO] + [DECISION] * len(frames) + [STATS, BYE]
    assert recs[0][1][16:28] == board.encode().ljust(12, b"\0")
    got = [struct.unpack("<IB", p) for t, p in recs if t == DECISION]
    assert [s for s, _ in got] == list(range(len(frames)))
    assert [f for _, f in got] == want, f"{board}: device {got}, LiteRT {want}"

    # Needles: the raw frames (0..n-1) and their model inputs (n..2n-1).
    index = ram_readback.WindowIndex(list(frames) + [x.tobytes() for x in inputs])
    assert [s.seq for s in run.snapshots] == list(range(len(frames)))
    for snap in run.snapshots:
        seen = set(range(snap.seq + 1)) | {len(frames) + k for k in range(snap.seq + 1)}
        found = index.find(snap, seen)
        assert found == [], f"{board} after frame {snap.seq}: windows found {found[:5]}"
        if snap.seq + 1 < len(frames):  # the search does see the bank: the next frame
            assert len(index.find(snap, {snap.seq + 1})) > len(frames[0]) // 2
    stats = struct.unpack("<IIIQ", recs[-2][1])
    return {"decisions": want, "insn_min": stats[1], "insn_max": stats[2]}


# ---- the board table ---------------------------------------------------------------------


def board_header_blocks() -> dict[str, dict[str, int]]:
    """PK_BOARD_* numeric defines of each block of ports/qemu_mps2/board.h."""
    text = (FIRMWARE / "ports" / "qemu_mps2" / "board.h").read_text()
    blocks = re.split(r"#(?:el)?if defined\(PK_BOARD_(\w+)\)", text)[1:]
    out = {}
    for name, body in zip(blocks[0::2], blocks[1::2]):
        defs = {}
        for key, val in re.findall(r"#define (PK_BOARD_\w+) \(?([0-9a-fx]+)u", body):
            defs[key] = int(val, 0)
        for key, mib in re.findall(r"#define (PK_BOARD_\w+) \((\d+)u \* 1024u \* 1024u\)", body):
            defs[key] = int(mib) << 20
        out[name.lower()] = defs
    return out


def test_board_table_matches_firmware_headers() -> None:
    blocks = board_header_blocks()
    assert set(blocks) == set(BOARDS) == set(emulator.BOARDS)
    for name, b in emulator.BOARDS.items():
        d = blocks[name]
        assert d["PK_BOARD_CAMERA_BASE"] == b.bank_addr, name
        assert d["PK_BOARD_CAMERA_BYTES"] == b.bank_bytes, name
        assert d["PK_BOARD_UART0_BASE"] == b.uart0, name
        num, den = d["PK_BOARD_INSN_PER_TICK_NUM"], d["PK_BOARD_INSN_PER_TICK_DEN"]
        assert (num, den) == b.insn_per_tick, name


@pytest.mark.parametrize("board", BOARDS)
def test_qemu_command_for_every_board(board: str) -> None:
    b = emulator.BOARDS[board]
    cmd = " ".join(emulator.qemu_command(Path("fw.elf"), board=board, frame_bank=Path("b")))
    assert f"-machine {b.machine} -cpu {b.cpu} " in cmd
    assert f"loader,file=b,addr={b.bank_addr:#x},force-raw=on" in cmd


# ---- decisions and RAM read-back -------------------------------------------------------

# Each board gets a different camera format and size, all through the same model.
SMALL_CASES = {
    "an386": (320, 240, cp.FORMAT_RGB565),
    "an500": (320, 240, cp.FORMAT_YUYV),
    "an547": (160, 120, cp.FORMAT_GRAY8),
}


@pytest.mark.parametrize("board", BOARDS)
def test_small_model_equals_litert_and_leaves_nothing_in_ram(
    builds, models, tmp_path: Path, board: str
) -> None:
    w, h, fmt = SMALL_CASES[board]
    frames = camera_frames.frames(seed=BOARDS.index(board), n=8, w=w, h=h, fmt=fmt)
    tflite, model_dir = models["small"]
    res = run_and_check(
        board, builds(board, "small"), tflite, model_dir, frames, w, h, fmt, tmp_path / "b.pkfb"
    )
    assert set(res["decisions"]) == {0, 1}, "frames should exercise both decisions"


@pytest.mark.parametrize("board", BOARDS)
def test_mlperf_model_equals_litert_on_every_board(
    builds, models, tmp_path: Path, board: str, record_property
) -> None:
    w, h, fmt = 320, 240, cp.FORMAT_RGB565
    frames = camera_frames.frames(seed=10 + BOARDS.index(board), n=3, w=w, h=h, fmt=fmt)
    tflite, model_dir = models["mlperf"]
    elf = builds(board, "mlperf")
    res = run_and_check(board, elf, tflite, model_dir, frames, w, h, fmt, tmp_path / "b.pkfb")
    sizes = board_footprint(elf)
    record_property("footprint", json.dumps({**sizes, **res}))
    print(f"\n{board} mlperf: {sizes} insn/inference {res['insn_min']}..{res['insn_max']}")


# The production image, fed through the emulated sensor (docs/SENSOR.md): the MLPerf
# model on an386 with QVGA RGB565 (the target), the small model on every board.
SENSOR_CASES = [("an386", "mlperf", 320, 240, cp.FORMAT_RGB565)] + [
    (b, "small", w, h, f) for b, (w, h, f) in SMALL_CASES.items()
]


@pytest.mark.parametrize("board, model, w, h, fmt", SENSOR_CASES)
def test_production_image_through_the_sensor_equals_litert(
    builds, models, board: str, model: str, w: int, h: int, fmt: int
) -> None:
    """The image that ships, with no frame bank: frames written into its sensor window
    by the host feeder give LiteRT's decisions (host preprocessing, BUILTIN_REF, the
    host decision rule) on every frame, and the window is empty after each one."""
    from host_tools.decision_rule import DecisionRule
    from host_tools.sensor import HEADER_BYTES, SensorFeeder
    from training.reference import litert_reference

    tflite, model_dir = models[model]
    mh, mw, mc = model_shape(model_dir)
    frames = camera_frames.frames(seed=20 + BOARDS.index(board), n=6, w=w, h=h, fmt=fmt)
    outputs = litert_reference(tflite, np.stack([cp.preprocess_frame(f, w, h, fmt, mh, mw, mc)
                                                 for f in frames]))  # fmt: skip
    want = DecisionRule.from_manifest(None).apply(outputs).astype(int).tolist()
    with SensorFeeder(builds(board, model, "production"), board) as dev:
        for f in frames:
            dev.next_frame(f, fmt, w, h)
            assert not any(dev.read_memory(dev.board.bank_addr, HEADER_BYTES + len(f)))
        recs = records(dev.serial())
    assert recs[0][0] == HELLO and recs[0][1][1] == 0  # a production image says so
    got = [struct.unpack("<IB", p) for t, p in recs[1:]]
    assert [t for t, _ in recs[1:]] == [DECISION] * len(frames)
    assert got == list(enumerate(want)), f"{board} {model}: device {got}, LiteRT {want}"
    if model == "small":
        assert set(want) == {0, 1}, "frames should exercise both decisions"


def board_footprint(elf: Path) -> dict[str, int]:
    """flash = code + constants + .data image; ram = .data + .bss + reserved stack."""
    out = subprocess.run(["arm-none-eabi-size", "-A", str(elf)], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    s = {p[0]: int(p[1]) for p in (line.split() for line in out.splitlines()) if len(p) == 3
         and p[0].startswith(".") and p[1].isdigit()}  # fmt: skip
    return {
        "flash": sum(s.get(k, 0) for k in (".vectors", ".text", ".rodata", ".ARM.exidx", ".data")),
        "ram": s.get(".data", 0) + s.get(".bss", 0) + s.get(".stack", 0),
    }


# ---- measured RAM --------------------------------------------------------------------------


@pytest.mark.parametrize("board", BOARDS)
def test_stack_high_water_is_measured_and_half_the_reservation_at_most(
    builds, models, board: str, record_property
) -> None:
    """The painted stack read back at every frame (every camera format, HIL and
    production images of the MLPerf model): a real depth, at most half the linker's
    reservation (the stated margin); and the model's input rows land in at most the
    model input's bytes of the arena."""
    from host_tools import ram_usage

    row, rows = ram_usage.model_input_bytes(models["mlperf"][1])
    kinds = ["hil", "production"] if board == "an386" else ["hil"]
    for kind in kinds:
        elf = builds(board, "mlperf", kind)
        m = ram_usage.measure_ram(elf, board, input_row_bytes=row)
        report = ram_usage.ram_report(elf, board, models["mlperf"][1])
        record_property(f"ram_{kind}", json.dumps({**report, "stack": m.high_water_bytes}))
        print(f"\n{board} mlperf {kind}: static {report['static_bytes']} B, stack "
              f"{m.high_water_bytes} B of {m.reserved_bytes}, input band {m.input_extent_bytes}")
        assert m.stops >= 4  # every frame's scrub was a stop
        assert 256 < m.high_water_bytes <= m.reserved_bytes // 2, m
        assert m.reserved_bytes == report["stack_reserved_bytes"]
        assert 0 < m.input_extent_bytes <= row * rows
        if kind == "production" and board == "an386":
            # The target: camera to decision in 64 KB of RAM.
            assert report["static_bytes"] + m.high_water_bytes <= 65_536, report


def test_no_buffer_can_hold_more_than_a_few_camera_rows(builds, models, tmp_path) -> None:
    """Production images hold no frame-sized buffer: every RAM object but the arena is
    at most four camera line buffers, and so is the arena's input band; the largest pixel
    buffer is the line buffer or that band. A frame buffer linked back in is caught."""
    from host_tools import ram_usage

    for board in BOARDS:
        elf = builds(board, "small", "production")
        assert ram_usage.oversized_objects(elf, board) == [], board
        pix = ram_usage.pixel_buffers(elf, board, models["small"][1])
        assert set(pix) == {"camera_line", "preprocess_acc", "peekless_model_arena[input]"}
        assert pix["camera_line"] == 1280 and pix["preprocess_acc"] == 96 * 4
        assert max(pix.values()) <= 4 * pix["camera_line"], pix
    # The arena's pixel-holding band: the models' fused first layers keep a few input
    # rows (MLPerf VWW: 10 rows of 288 bytes), not the whole input.
    for name in ("small", "mlperf"):
        band = ram_usage.arena_input_bytes(models[name][1])
        row, rows = ram_usage.model_input_bytes(models[name][1])
        assert 0 < band <= 4 * 1280 and band < row * rows, (name, band)
    src = tmp_path / "framebuffer.c"
    src.write_text("#include <stdint.h>\nuint8_t pk_frame_copy[320 * 240 * 2];\n"
                   "uint8_t *pk_frame_copy_at(int i) { return &pk_frame_copy[i]; }\n")
    elf = builds("an386", "small", "production", TEST_EXTRA_SRCS=str(src),
                 FORCE_SYMBOL="pk_frame_copy_at")  # fmt: skip
    assert ram_usage.oversized_objects(elf, "an386") == [("pk_frame_copy", 153_600)]


def test_build_manifest_states_measured_ram(models, tmp_path) -> None:
    """`peekless firmware`'s manifest: static RAM from the ELF, the stack high-water mark
    measured on the emulator, their total and the largest pixel buffer."""
    from host_tools.firmware_build import build_firmware

    fw = build_firmware("an386", models["small"][1], tmp_path / "fw", build="production",
                        extra=(f"ENGINE_CACHE={ENGINE_CACHE}",))  # fmt: skip
    ram = fw.manifest["ram"]
    sizes = board_footprint(fw.elf)
    assert ram["static_bytes"] == fw.ram_bytes == sizes["ram"] - ram["stack_reserved_bytes"]
    assert ram["stack_reserved_bytes"] == 2560
    assert 256 < fw.stack_high_water_bytes <= 1024
    assert ram["total_bytes"] == ram["static_bytes"] + fw.stack_high_water_bytes
    pix = ram["pixel_buffers"]
    assert pix["camera_line"] == 1280
    assert 0 < pix["peekless_model_arena[input]"] <= 96 * 96  # measured: where rows land
    name, size = max(pix.items(), key=lambda kv: kv[1])
    assert fw.manifest["largest_pixel_buffer"] == {"name": name, "bytes": size}
    assert json.loads(fw.manifest_path.read_text())["ram"] == ram


@pytest.mark.parametrize("board", BOARDS)
def test_used_ram_regions_start_with_the_stack(builds, board: str) -> None:
    """The read-back of "what the image uses" covers the stack at the bottom of RAM, then
    .data and .bss, inside the board's RAM."""
    from host_tools.checkpoints import symbol_address

    elf = builds(board, "small")
    ((start, size),) = ram_readback.readback_regions(elf, board, full_ram=False)
    (ram_start, ram_bytes), *_ = emulator.BOARDS[board].ram
    assert start == ram_start == symbol_address(elf, "pk_ld_stack_limit")
    assert start + size == symbol_address(elf, "pk_ld_bss_end") <= ram_start + ram_bytes


def test_a_stack_overflow_stops_the_core_instead_of_corrupting_data(builds, tmp_path) -> None:
    """The stack sits below .data/.bss: overflowing it (a 256-byte stack) runs into
    unmapped memory and locks the core up, so the run fails loudly."""
    elf = builds("an386", "small", "hil", STACK_BYTES="256")
    frames = camera_frames.frames(seed=1, n=1, w=160, h=120, fmt=cp.FORMAT_GRAY8)
    bank = camera_frames.write_bank(tmp_path / "b.pkfb", frames, 160, 120, cp.FORMAT_GRAY8)
    run = emulator.run_capture(elf, board="an386", frame_bank=bank, timeout_s=30)
    assert run.exit_code != 0
    assert DECISION not in [t for t, _ in records(run.capture)] if run.capture else True


# ---- production ELF check ---------------------------------------------------------------


@pytest.mark.parametrize("board", BOARDS)
def test_production_elf_check_passes(builds, board: str) -> None:
    result = elf_check.check_production_elf(builds(board, "small", "production"))
    assert result.passed, result.summary()
    # The HIL image of the same board is caught, so the check can see what it denies.
    hil = elf_check.check_production_elf(builds(board, "small", "hil"))
    assert not hil.passed
    assert {f.category for f in hil.findings} >= {"injection", "semihosting-write"}


def test_production_elf_check_fails_with_forced_injection_symbol(builds, tmp_path) -> None:
    src = tmp_path / "inject.c"
    src.write_text(
        "#include <stdint.h>\n"
        "void pk_bank_inject(uint8_t *dst, const uint8_t *src, uint32_t n)\n"
        "{ while (n--) { *dst++ = *src++; } }\n"
    )
    elf = builds(
        "an386", "small", "production", TEST_EXTRA_SRCS=str(src), FORCE_SYMBOL="pk_bank_inject"
    )
    result = elf_check.check_production_elf(elf)
    assert not result.passed
    assert ("injection", "pk_bank_inject") in {(f.category, f.what) for f in result.findings}


# ---- instruction counter ------------------------------------------------------------------

LOOP_MODEL_H = """\
#ifndef PEEKLESS_MODEL_H
#define PEEKLESS_MODEL_H
#include <stdint.h>
#define PEEKLESS_MODEL_INPUT_H 4
#define PEEKLESS_MODEL_INPUT_W 4
#define PEEKLESS_MODEL_INPUT_C 1
#define PEEKLESS_MODEL_INPUT_BYTES 16
#define PEEKLESS_MODEL_OUTPUT_BYTES 2
#define PEEKLESS_MODEL_ARENA_BYTES 16
#define PEEKLESS_MODEL_PERSON_INDEX 1
#define PEEKLESS_MODEL_SHA256_BYTES {0}
extern int8_t peekless_model_arena[];
int peekless_model_invoke(const int8_t *input, int8_t *output);
#endif
"""
LOOP_ITERATIONS = 1 << 28  # 2^29 instructions: past one 2^24-tick SysTick wrap on an547
SHORT_ITERATIONS = 1 << 10
# Frame 0 runs the short loop, frame 1 the long one plus the short one. STATS count from
# the first camera row to the output, so preprocessing (the same for both: constant
# time) is in both counts and the difference is the loop alone.
LOOP_MODEL_C = f"""\
#include "peekless_model.h"
int8_t peekless_model_arena[PEEKLESS_MODEL_ARENA_BYTES];
static uint32_t calls;
/* Exactly 2 instructions per iteration: subs + bne. */
int peekless_model_invoke(const int8_t *input, int8_t *output)
{{
    uint32_t n = calls++ == 0 ? {SHORT_ITERATIONS}u : {LOOP_ITERATIONS + SHORT_ITERATIONS}u;
    __asm__ __volatile__("1: subs %0, %0, #1\\n\\tbne 1b" : "+r"(n) : : "cc");
    output[0] = input[0];
    output[1] = 0;
    return 0;
}}
"""


@pytest.mark.parametrize("board", BOARDS)
def test_instruction_counter_is_calibrated(tmp_path: Path, board: str) -> None:
    model = tmp_path / "loop"
    model.mkdir()
    (model / "peekless_model.h").write_text(LOOP_MODEL_H)
    (model / "peekless_model.c").write_text(LOOP_MODEL_C)
    out = tmp_path / "fw"
    subprocess.run(
        ["make", "-C", str(FIRMWARE), f"-j{os.cpu_count() or 1}", f"BOARD={board}",
         "BUILD=hil", f"MODEL_DIR={model}", f"OUT={out}", f"ENGINE_CACHE={ENGINE_CACHE}"],
        check=True, capture_output=True,
    )  # fmt: skip
    bank = camera_frames.write_bank(tmp_path / "b.pkfb", [bytes(16)] * 2, 4, 4, cp.FORMAT_GRAY8)
    run = emulator.run_capture(out / "peekless.elf", board=board, frame_bank=bank, timeout_s=60)
    assert run.exit_code == 0, run.stderr
    frames_n, insn_min, insn_max, _ = struct.unpack("<IIIQ", records(run.capture)[-2][1])
    assert frames_n == 2
    num, den = emulator.BOARDS[board].insn_per_tick
    assert 2 * SHORT_ITERATIONS < insn_min < 2 * SHORT_ITERATIONS + 20_000, insn_min
    # The long loop, to within one tick either way and, on an547, the SysTick wrap
    # handlers that run during it.
    tick = num // den + 1
    assert -tick <= insn_max - insn_min - 2 * LOOP_ITERATIONS <= 200 + tick, (insn_min, insn_max)
