#!/usr/bin/env bash
# One-time (and idempotent) set-up: the Python virtual environment and the Debian
# cross toolchain and emulator. Quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.installed-$(cat pyproject.toml scripts/pio_setup.sh | sha256sum | cut -c1-16)

# clang (with its libFuzzer runtime) fuzzes the firmware command parser.
debian_packages="gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm clang"
missing=""
command -v arm-none-eabi-gcc >/dev/null || missing="$missing gcc-arm-none-eabi"
[ -f /usr/lib/arm-none-eabi/newlib/libc.a ] || [ -d /usr/lib/arm-none-eabi/newlib ] || missing="$missing libnewlib-arm-none-eabi"
command -v qemu-system-arm >/dev/null || missing="$missing qemu-system-arm"
command -v clang >/dev/null || missing="$missing clang"
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "setup: installing Debian packages:$missing"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $debian_packages >/dev/null
    else
        echo "setup: missing Debian packages:$missing" >&2
        echo "setup: run as root:  apt-get update && apt-get install -y $debian_packages" >&2
        exit 1
    fi
fi

if [ ! -f "$STAMP" ]; then
    [ -x $VENV/bin/python ] || "$PYTHON" -m venv $VENV
    echo "setup: installing Python packages into $VENV (first run takes a minute or two)"
    $VENV/bin/pip install -q --upgrade pip
    $VENV/bin/pip install -q -e '.[test,bench]'
    # PlatformIO in a venv of its own, working offline (firmware/platformio.ini).
    bash scripts/pio_setup.sh
    rm -f $VENV/.installed-*
    touch "$STAMP"
fi
echo "setup: ok ($($VENV/bin/python --version), $(arm-none-eabi-gcc -dumpversion) arm-none-eabi-gcc, $(qemu-system-arm --version | head -1 | awk '{print $4}') qemu)"
