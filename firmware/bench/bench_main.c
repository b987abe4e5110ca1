/* Bench firmware: runs the generated model on inputs preloaded by QEMU and reports every
 * output vector and the instructions each layer took. Not the product app: no camera, no
 * protocol, no wiping; it exists to measure the engine and to check it against LiteRT.
 *
 * Input, at PK_BOARD_BANK_BASE (QEMU: -device loader,file=...,addr=...,force-raw=on):
 *   "PKBI", u32 count, u32 input bytes, u32 output bytes, then count inputs (int8).
 * Output on UART0, text lines:
 *   V <variant>                 kernel variant compiled in (ref, dsp or mve)
 *   L <layer> <instructions>    per layer, for the first input (generated-code order)
 *   O <index> <hex bytes>       the int8 output vector of each input
 *   I <index> <instructions>    instructions of each inference (QEMU -icount shift=0)
 *   E <status>                  end; then the firmware exits with that status
 * Instruction counts are QEMU's executed instructions, not cycles (resolution: one counter
 * tick, PK_BOARD_INSN_PER_TICK_NUM / _DEN instructions). */
#include <stdint.h>
#include <string.h>

#include "bench_io.h"
#include "board.h"
#include "pk_hal.h"
#include "pk_kernels.h"
#include "peekless_model.h"

#define BENCH_MAX_LAYERS 256

#if PEEKLESS_MODEL_LAYERS > BENCH_MAX_LAYERS
#error "raise BENCH_MAX_LAYERS"
#endif

static uint64_t layer_end[BENCH_MAX_LAYERS];
static uint8_t layer_seen[BENCH_MAX_LAYERS];

/* Called just before and just after every inference. It does nothing: the exact
 * instruction counter outside the guest (firmware/tools/insn_count_plugin.c) watches its
 * address, which it finds in the ELF's symbols. */
__attribute__((noinline)) void bench_mark(void)
{
    __asm__ volatile("" ::: "memory");
}

/* Called by the generated code after each layer (PEEKLESS_MODEL_TRACE, set by the build).
 * It does the same work on every inference, so that inferences stay comparable
 * instruction for instruction; only the first one's figures are printed. */
void bench_trace(int layer)
{
    if (layer >= 0 && layer < BENCH_MAX_LAYERS) {
        layer_end[layer] = pk_hal_insn_count();
        layer_seen[layer] = 1;
    }
}

static int8_t output[PEEKLESS_MODEL_OUTPUT_BYTES];
/* Each input is copied here first, so every inference reads its input from the same
 * address (as the product reads its frame buffer): copies whose speed depends on a
 * pointer's alignment then take the same time for every input. */
static int8_t input[PEEKLESS_MODEL_INPUT_BYTES] __attribute__((aligned(16)));

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
    const uint32_t count = header[1];
    const int8_t *inputs = (const int8_t *)(header + 4);
    int status = 0;
    for (uint32_t n = 0; n < count; n++) {
        memcpy(input, inputs + (size_t)n * PEEKLESS_MODEL_INPUT_BYTES, sizeof input);
        const uint64_t start = pk_hal_insn_count();
        /* Interrupts wait until the inference is over (the an547 counter's SysTick wrap
         * would otherwise land inside one inference in about 40 and add its handler). */
        __asm__ volatile("cpsid i" ::: "memory");
        bench_mark();
#if defined(BENCH_TIMING_LEAK)
        /* TEST ONLY (tests/test_engine_constant_time.py): one instruction more when the
         * first input byte is odd, to prove the constant-time check sees a difference
         * of one. */
        __asm__ volatile("tst %0, #1\n\tbeq 1f\n\tnop\n1:" : : "r"(input[0]) : "cc");
#endif
        const int rc = peekless_model_invoke(input, output);
        bench_mark();
        __asm__ volatile("cpsie i" ::: "memory");
        const uint64_t end = pk_hal_insn_count();
        if (rc != 0) {
            status = PK_EXIT_INVOKE;
            break;
        }
        if (n == 0) {
            uint64_t prev = start;
            for (int layer = 0; layer < PEEKLESS_MODEL_LAYERS; layer++) {
                /* a reshape moves no data and has no trace point: 0 instructions */
                const uint64_t here = layer_seen[layer] ? layer_end[layer] : prev;
                put("L ");
                put_u64((uint64_t)layer);
                put(" ");
                put_u64(here - prev);
                put("\n");
                prev = here;
            }
        }
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
    put("E ");
    put_u64((uint64_t)status);
    put("\n");
    return status;
}
