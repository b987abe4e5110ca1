"""Firmware for the privacy audit tests: a tiny real model compiled to C, and the clean
and deliberately leaky builds of firmware/ (make LEAK=<name>, production or HIL), built
once per test session into a shared cache folder (engine objects in the shared
ENGINE_CACHE)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from host_tools.canaries import generate_canaries
from host_tools.firmware_build import build_firmware

#: The seven variants of audit v1 ...
OLD_LEAKS = (
    "raw_frame",
    "hex_frame",
    "base64_frame",
    "zlib_thumbnail",
    "pixel_bit",
    "extra_record",
    "ram_remnant",
)
#: ... and one per leak class that passed it (issue 11).
NEW_LEAKS = (
    "decision_pixel",
    "pixel_delay",
    "record_fields",
    "ram_xor",
    "flash_copy",
    "window_copy",
    "noinit_copy",
    "other_uart",
)
LEAKS = OLD_LEAKS + NEW_LEAKS
ENGINE_CACHE = Path(tempfile.gettempdir()) / f"peekless-engine-cache-{os.getuid()}"
SHAPE = (96, 96, 1)
HAVE_TOOLS = all(shutil.which(t) for t in ("arm-none-eabi-gcc", "qemu-system-arm"))


def build_tiny_model(root: Path, pool: bool = True) -> Path:
    """A 96x96 gray int8 model (conv stride 4, global average, dense 2) whose decision
    boundary is centred on canary frames, so that both decisions occur; compiled to C.
    Returns the folder with peekless_model.h/.c and memory_plan.json (and writes
    ``tiny.tflite`` beside it).

    ``pool=False``: a second stride-4 convolution instead of the average pooling. The
    audit's model keeps the pooling: its sums take both signs, and GCC once compiled the
    pool's branch-free rounding into a branch on that sign, which the audit's timing check
    caught (the kernel now keeps the sign mask opaque to the optimizer)."""
    generated = root / "generated"
    if (generated / "memory_plan.json").exists():
        return generated
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    from model_factory import convert_int8

    from compiler import compile_model

    keras.utils.set_random_seed(5)
    inp = keras.Input(SHAPE, batch_size=1)
    x = keras.layers.Conv2D(4, 3, strides=4, activation="relu")(inp)
    if pool:
        x = keras.layers.AveragePooling2D(x.shape[1:3])(x)
    else:
        x = keras.layers.Conv2D(4, 3, strides=4, activation="relu")(x)
    x = keras.layers.Reshape((-1,))(x)
    dense = keras.layers.Dense(2)
    model = keras.Model(inp, dense(x))
    frames = generate_canaries(40, *SHAPE, seed=0).frames.astype(np.float32) / 255.0
    out = model.predict(frames, verbose=0)
    kernel, bias = dense.get_weights()
    bias[1] -= float(np.median(out[:, 1] - out[:, 0]))
    dense.set_weights([kernel, bias])
    tflite = convert_int8(model, root / "tiny.tflite")
    compile_model(tflite, generated)
    return generated


def build_audit_model(root: Path) -> tuple[Path, Path, Path]:
    """The privacy audit tests' model (``build_tiny_model()``), in its own folder
    under ``root``: (that folder, for build_variant; generated C folder; .tflite)."""
    sub = root / "audit_model"
    sub.mkdir(exist_ok=True)
    return sub, build_tiny_model(sub), sub / "tiny.tflite"


def build_variant(
    root: Path, generated: Path, leak: str | None, build: str = "hil", board: str = "an386"
):
    """The firmware build (ELF + manifest) of one variant, built on first use."""
    name = f"fw-{board}-{build}-{leak or 'clean'}"
    out = root / name
    manifest = out / "build_manifest.json"
    if manifest.exists():
        from host_tools.firmware_build import FirmwareBuild

        data = json.loads(manifest.read_text())
        return FirmwareBuild(out / data["elf"], data, manifest)
    return build_firmware(
        board, generated, out, build=build, leak=leak, extra=(f"ENGINE_CACHE={ENGINE_CACHE}",)
    )


def cache_root(tmp_path_factory) -> Path:
    """One folder per test session shared by every module that builds firmware."""
    root = tmp_path_factory.getbasetemp() / "peekless_hil_cache"
    root.mkdir(exist_ok=True)
    return root
