/* Emulator firmware that runs the generated model through its streaming API on inputs
 * preloaded by QEMU, in the bench firmware's format (firmware/bench/bench_main.c: "PKBI"
 * bank in, V/O/I/E lines out, read by compiler/bench/device.py run_bench), plus
 *   C <row0> <nrows> <arena offset>   every input callback call of the first inference.
 * The callback checks the contract (each row once, in increasing order, at most
 * PEEKLESS_MODEL_STREAM_ROWS_MAX a call, dst inside the arena); a breach ends the run
 * with E 3. Instruction counts include the callback's copies. */
#include <stdint.h>
#include <string.h>

#include "bench_io.h" /* firmware/bench/ */
#include "board.h"
#include "pk_hal.h"
#include "pk_kernels.h"
#include "peekless_model.h"

typedef struct {
    const int8_t *input;
    uint32_t next_row;
    uint32_t calls;
    int log;
    int broken;
} stream_state;

static int fill(void *ctx, uint16_t row0, uint16_t nrows, int8_t *dst)
{
    stream_state *s = ctx;
    const intptr_t offset = dst - peekless_model_arena;
    if (row0 != s->next_row || nrows < 1 || nrows > PEEKLESS_MODEL_STREAM_ROWS_MAX ||
        (uint32_t)row0 + nrows > PEEKLESS_MODEL_INPUT_H || offset < 0 ||
        offset + (intptr_t)nrows * PEEKLESS_MODEL_INPUT_ROW_BYTES > PEEKLESS_MODEL_ARENA_BYTES) {
        s->broken = 1;
        return -1;
    }
    if (s->log) {
        put("C ");
        put_u64(row0);
        put(" ");
        put_u64(nrows);
        put(" ");
        put_u64((uint64_t)offset);
        put("\n");
    }
    memcpy(dst, s->input + (uint32_t)row0 * PEEKLESS_MODEL_INPUT_ROW_BYTES,
           (uint32_t)nrows * PEEKLESS_MODEL_INPUT_ROW_BYTES);
    s->next_row = (uint32_t)row0 + nrows;
    s->calls++;
    return 0;
}

static int8_t output[PEEKLESS_MODEL_OUTPUT_BYTES];

int main(int argc, char **argv)
{
    if (pk_hal_init(argc, argv) != PK_HAL_OK) {
        return PK_EXIT_INIT;
    }
    const uint32_t *header = (const uint32_t *)PK_BOARD_BANK_BASE;
    put("V " PK_KERNELS_VARIANT "\n");
    if (!bench_header_ok(header, PEEKLESS_MODEL_INPUT_BYTES, PEEKLESS_MODEL_OUTPUT_BYTES)) {
        put("E 2\n");
        return PK_EXIT_INIT;
    }
    const int8_t *inputs = (const int8_t *)(header + 4);
    int status = 0;
    for (uint32_t n = 0; n < header[1] && status == 0; n++) {
        stream_state s = {inputs + (size_t)n * PEEKLESS_MODEL_INPUT_BYTES, 0, 0, n == 0, 0};
        const uint64_t start = pk_hal_insn_count();
        const int rc = peekless_model_invoke_streaming(fill, &s, output);
        const uint64_t end = pk_hal_insn_count();
        if (s.broken || s.next_row != PEEKLESS_MODEL_INPUT_H ||
            s.calls != PEEKLESS_MODEL_STREAM_CALLS) {
            status = 3;
        } else if (rc != 0) {
            status = PK_EXIT_INVOKE;
        } else {
            put("O ");
            put_u64(n);
            put(" ");
            put_hex(output, PEEKLESS_MODEL_OUTPUT_BYTES);
            put("\nI ");
            put_u64(n);
            put(" ");
            put_u64(end - start);
            put("\n");
        }
        memset(peekless_model_arena, 0, PEEKLESS_MODEL_ARENA_BYTES);
    }
    put("E ");
    put_u64((uint64_t)status);
    put("\n");
    return status;
}
