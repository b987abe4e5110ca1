#!/usr/bin/env bash
# Fuzz the HIL command parser (firmware/app/pk_cmd_hil.c) on the host with libFuzzer:
#
#   bash scripts/fuzz_command_parser.sh [RUNS]      # default 1000000 executions
#   make -C firmware fuzz [FUZZ_RUNS=...]           # the same
#
# Needs Debian's clang (packages clang and libclang-rt-14-dev, which clang pulls in).
# Prints libFuzzer's final statistics; exits non-zero on any crash or sanitizer report.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-1000000}
OUT=${FUZZ_OUT:-firmware/build/fuzz}
CLANG=${CLANG:-clang}
command -v "$CLANG" >/dev/null || { echo "clang not found: apt-get install -y clang" >&2; exit 2; }
mkdir -p "$OUT/corpus"

"$CLANG" -std=c99 -g -O1 -Wall -Wextra -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Ifirmware/app firmware/fuzz/fuzz_command_parser.c firmware/app/pk_cmd_hil.c \
    firmware/app/pk_link.c -o "$OUT/fuzz_command_parser"

# Seeds: one valid frame of each command (COBS + CRC as in docs/PROTOCOL.md), and a
# stream of all three with garbage between them.
python3 - "$OUT/corpus" <<'PY'
import struct, sys, zlib
def cobs(b):
    out, block = bytearray(), bytearray()
    for x in b:
        if x == 0:
            out += bytes([len(block) + 1]) + block; block = bytearray()
        else:
            block.append(x)
            if len(block) == 254:
                out += b"\xff" + block; block = bytearray()
    return bytes(out + bytes([len(block) + 1]) + block)
def frame(t, p):
    body = bytes([t]) + p
    return cobs(body + struct.pack("<I", zlib.crc32(body))) + b"\0"
seeds = {
    "ping": frame(0x81, struct.pack("<I", 0xDEADBEEF)),
    "stop": frame(0x82, b""),
    "limit": frame(0x83, struct.pack("<I", 3)),
}
seeds["stream"] = b"\x01\x02\0" + seeds["ping"] + b"\xff" * 20 + b"\0" + seeds["limit"] + seeds["stop"]
for name, data in seeds.items():
    open(f"{sys.argv[1]}/seed_{name}", "wb").write(data)
PY

echo "fuzzing pk_cmd_feed/pk_cmd_decode: $RUNS executions"
start=$(date +%s.%N)
"$OUT/fuzz_command_parser" -runs="$RUNS" -seed=1 -max_len=128 -print_final_stats=1 \
    -artifact_prefix="$OUT/" \
    "$OUT/corpus" > "$OUT/fuzz.log" 2>&1 || { tail -40 "$OUT/fuzz.log"; exit 1; }
end=$(date +%s.%N)
grep -E "^Done|stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)" \
    "$OUT/fuzz.log"
grep -E "cov: [0-9]+" "$OUT/fuzz.log" | tail -1 | sed 's/^/last status: /'
echo "wall time: $(python3 -c "print(round($end - $start, 1))") s; no crash; log: $OUT/fuzz.log"
