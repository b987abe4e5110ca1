#!/usr/bin/env bash
# PlatformIO without its registry, for the emulated boards (firmware/platformio.ini).
#
#   bash scripts/pio_setup.sh        # idempotent; then:
#   firmware/pio/venv/bin/pio run -d firmware -e an386 [-t upload]
#
# 1. A venv of its own (firmware/pio/venv) with PlatformIO 6.2.0 from PyPI: PlatformIO pins
#    its own dependencies, so it stays out of the project's .venv.
# 2. SCons 4.11.1 from its PyPI wheel, unpacked as PlatformIO's core package tool-scons
#    (PlatformIO 6.2 requires tool-scons ~4.41101.0) in firmware/pio/core, the core_dir of
#    platformio.ini, with the scons.py launcher, package.json and .piopm that make
#    PlatformIO accept it as installed instead of downloading it.
# The toolchain is Debian's gcc-arm-none-eabi on PATH (scripts/setup.sh installs it), and
# the dev-platform is the local folder firmware/pio/platform/peekless-qemu.
set -euo pipefail
cd "$(dirname "$0")/.."
PIO_DIR=firmware/pio
VENV=$PIO_DIR/venv
SCONS_VERSION=4.11.1
PIO_VERSION=6.2.0
TOOL=$PIO_DIR/core/packages/tool-scons

if [ ! -x "$VENV/bin/pio" ] || ! "$VENV/bin/pio" --version | grep -q "$PIO_VERSION"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "platformio==$PIO_VERSION"
fi

if [ ! -f "$TOOL/.piopm" ] || ! grep -q "\"$SCONS_VERSION\"" "$TOOL/package.json" 2>/dev/null \
    && ! grep -q "4.41101.0" "$TOOL/package.json" 2>/dev/null; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    "$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: "scons==$SCONS_VERSION" -d "$tmp"
    rm -rf "$TOOL"
    mkdir -p "$TOOL"
    "$VENV/bin/python" - "$tmp"/scons-"$SCONS_VERSION"-*.whl "$TOOL" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
    cat > "$TOOL/scons.py" <<'PY'
# Launcher PlatformIO runs as tool-scons: SCons from the unpacked PyPI wheel beside it.
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from SCons.Script.Main import main  # noqa: E402

if __name__ == "__main__":
    main()
PY
    echo '{"name": "tool-scons", "version": "4.41101.0", "system": "*"}' > "$TOOL/package.json"
    echo '{"type": "tool", "name": "tool-scons", "version": "4.41101.0", "spec": {"owner": "platformio", "id": 0, "name": "tool-scons", "requirements": null, "uri": null}}' > "$TOOL/.piopm"
fi
echo "PlatformIO $("$VENV/bin/pio" --version | awk '{print $NF}') with tool-scons (SCons $SCONS_VERSION) in $PIO_DIR"
