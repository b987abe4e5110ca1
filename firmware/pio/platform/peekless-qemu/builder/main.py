"""SCons builder of the peekless-qemu dev-platform: the same image as firmware/Makefile.

Sources come from the project (firmware/) through build_src_filter in platformio.ini; the
model is either a compiled folder (custom_model_dir) or compiled here from a .tflite
(custom_model_tflite) with the project's Python (custom_python). The compiler is GCC from
PATH (Debian's gcc-arm-none-eabi), so nothing is fetched from PlatformIO's registry.

`pio run -e <board> -t upload` runs the image in qemu-system-arm: HIL builds with a frame
bank (custom_frame_bank, or three generated QVGA RGB565 pattern frames), the serial link
into $BUILD_DIR/capture.bin, and prints the decoded records and QEMU's exit status.
"""

import os
import struct
import subprocess
import sys
import zlib
from os.path import isabs, isdir, join

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()
project_dir = env.subst("$PROJECT_DIR")


def option(name, default=""):
    return env.GetProjectOption(name, default).strip()


def project_path(path):
    return path if isabs(path) else os.path.normpath(join(project_dir, path))


build_kind = option("custom_build", "hil")
if build_kind not in ("hil", "production"):
    sys.stderr.write("custom_build must be hil or production, not %r\n" % build_kind)
    env.Exit(1)
policy = {"per-frame": 0, "event": 1}[option("custom_policy", "per-frame")]

# ---- the model -------------------------------------------------------------------------

model_dir = option("custom_model_dir")
if model_dir:
    model_dir = project_path(model_dir)
else:
    tflite = project_path(option("custom_model_tflite",
                                 "../../shared/models/mlperf_vww_96_int8.tflite"))
    python = project_path(option("custom_python", "../.venv/bin/python"))
    model_dir = join(env.subst("$BUILD_DIR"), "generated_model")
    if not os.path.isfile(join(model_dir, "peekless_model.c")) or (
        os.path.getmtime(tflite) > os.path.getmtime(join(model_dir, "peekless_model.c"))
    ):
        print("Compiling model %s -> %s" % (tflite, model_dir))
        subprocess.check_call(
            [python, "-c", "import sys; from compiler import compile_model; "
             "compile_model(sys.argv[1], sys.argv[2])", tflite, model_dir],
            cwd=join(project_dir, ".."),
        )
if not isdir(model_dir):
    sys.stderr.write("no model folder %s\n" % model_dir)
    env.Exit(1)

# ---- toolchain and flags (as firmware/Makefile) ----------------------------------------

arch = board.get("build.arch_flags").split()
env.Replace(
    AR="arm-none-eabi-ar",
    AS="arm-none-eabi-as",
    CC="arm-none-eabi-gcc",
    CXX="arm-none-eabi-g++",
    LINK="arm-none-eabi-gcc",
    RANLIB="arm-none-eabi-ranlib",
    OBJCOPY="arm-none-eabi-objcopy",
    SIZETOOL="arm-none-eabi-size",
    PROGSUFFIX=".elf",
    SIZEPRINTCMD="$SIZETOOL -A $SOURCES",
)
env.Append(
    CFLAGS=["-std=c99"],
    CCFLAGS=arch + ["-O2", "-g", "-Wall", "-Wextra", "-Werror",
                    "-ffunction-sections", "-fdata-sections"],
    CPPDEFINES=[
        (board.get("build.board_define"), 1),
        ("PEEKLESS_BUILD_HIL", 1 if build_kind == "hil" else 0),
        ("PEEKLESS_POLICY", policy),
    ],
    CPPPATH=[join(project_dir, d) for d in
             ("app", "ports/common", "ports/qemu_mps2", "engine/include")] + [model_dir],
    LINKFLAGS=arch + ["-nostartfiles", "--specs=nano.specs",
                      "-Wl,--gc-sections", "-Wl,-Map=" + join("$BUILD_DIR", "peekless.map")],
)
# PlatformIO passes -T $LDSCRIPT_PATH itself.
env.Replace(LDSCRIPT_PATH=join(project_dir, board.get("build.ldscript")), PROGNAME="peekless")

env.BuildSources(join("$BUILD_DIR", "model_obj"), model_dir, src_filter="+<peekless_model.c>")
program = env.BuildProgram()
Default(program)
AlwaysBuild(env.Alias("size", program, env.VerboseAction("$SIZEPRINTCMD", "Section sizes")))

# ---- upload = run in QEMU ----------------------------------------------------------------

NAMES = {1: "HELLO", 2: "DECISION", 3: "STATS", 4: "BYE"}


def cobs_decode(data):
    out, i = bytearray(), 0
    while i < len(data):
        code = data[i]
        if code == 0 or i + code > len(data):
            raise ValueError("bad COBS")
        out += data[i + 1:i + code]
        i += code
        if code < 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def describe(capture):
    lines = []
    for raw in capture.split(b"\0")[:-1]:
        try:
            body = cobs_decode(raw)
            ok = zlib.crc32(body[:-4]) & 0xFFFFFFFF == struct.unpack("<I", body[-4:])[0]
        except (ValueError, struct.error):
            ok = False
        if not ok:
            lines.append("  %d bytes of garbage" % len(raw))
            continue
        kind, p = body[0], body[1:-4]
        if kind == 1:
            lines.append("  HELLO fw %s board %s build %s policy %d model %s" % (
                p[4:16].rstrip(b"\0").decode(), p[16:28].rstrip(b"\0").decode(),
                ("production", "hil")[p[1]], p[2], p[28:60].hex()[:16]))
        elif kind == 2:
            seq, flags = struct.unpack("<IB", p)
            lines.append("  DECISION %d person=%d" % (seq, flags & 1))
        elif kind == 3:
            lines.append("  STATS frames %d insn/inference min %d max %d (instructions, "
                         "not cycles)" % struct.unpack("<IIIQ", p)[:3])
        else:
            lines.append("  %s %s" % (NAMES.get(kind, "type 0x%02x" % kind), p.hex()))
    return "\n".join(lines)


def pattern_bank(path, count=3, w=320, h=240):
    """Moving grey-level gradient QVGA RGB565 frames (pure Python: no numpy here)."""
    frames = []
    for n in range(count):
        row = bytearray()
        for x in range(w):
            v = ((x + 40 * n) * 255 // w) % 256
            px = (v >> 3) << 11 | (v >> 2) << 5 | (v >> 3)
            row += struct.pack("<H", px)
        frames.append(bytes(row) * h)
    hdr = b"PKFB" + struct.pack("<IIHHBB", 1, count, w, h, 2, 2)
    with open(path, "wb") as f:
        f.write(hdr + bytes(32 - len(hdr)) + b"".join(frames))


def run_in_qemu(target, source, env):
    elf = str(source[0])
    capture = join(env.subst("$BUILD_DIR"), "capture.bin")
    cmd = ["qemu-system-arm", "-machine", board.get("upload.qemu_machine"),
           "-cpu", board.get("upload.qemu_cpu"), "-nographic", "-monitor", "none",
           "-kernel", elf, "-icount", "shift=0,align=off,sleep=off",
           "-serial", "file:" + capture]
    if build_kind == "hil":
        bank = option("custom_frame_bank")
        if bank:
            bank = project_path(bank)
        else:
            bank = join(env.subst("$BUILD_DIR"), "pattern.pkfb")
            pattern_bank(bank)
        cmd += ["-semihosting-config", "enable=on,target=native", "-device",
                "loader,file=%s,addr=%s,force-raw=on" % (bank, board.get("upload.bank_addr"))]
        timeout = None
    else:
        timeout = float(option("custom_run_seconds", "5"))  # production never exits
    print(" ".join(cmd))
    try:
        status = subprocess.call(cmd, timeout=timeout)
    except subprocess.TimeoutExpired:
        status = "stopped after %s s (production images run forever)" % timeout
    with open(capture, "rb") as f:
        data = f.read()
    print("QEMU exit status: %s; serial link: %d bytes\n%s" % (status, len(data), describe(data)))
    return 0 if status == 0 or build_kind == "production" else 1


AlwaysBuild(env.Alias("upload", program, env.VerboseAction(run_in_qemu, "Running in QEMU")))
