/*
 * The whole product: capture -> preprocess -> infer -> decide -> emit -> wipe, once per
 * frame, with every pixel-holding buffer static and wiped before the next capture.
 * Only the 1-bit decision leaves the device (plus, in HIL builds, timing statistics).
 */
#include <stdbool.h>
#include <stdint.h>

#include "peekless_model.h"
#include "pk_config.h"
#include "pk_hal.h"
#include "pk_link.h"
#include "pk_preprocess.h"
#include "pk_wipe.h"

#if PEEKLESS_MODEL_OUTPUT_BYTES != 2
#error "the decision rule below expects a two-class model output"
#endif
#if PEEKLESS_MODEL_INPUT_C != 1 && PEEKLESS_MODEL_INPUT_C != 3
#error "model input must have 1 (GRAY8) or 3 (RGB888) channels"
#endif

/* The camera delivers frames at the model input size, so the framebuffer is that big. */
static uint8_t framebuffer[PEEKLESS_MODEL_INPUT_BYTES];
static int8_t model_input[PEEKLESS_MODEL_INPUT_BYTES];
static int8_t model_output[PEEKLESS_MODEL_OUTPUT_BYTES];

/*
 * PROTOCOL.md calls PEEKLESS_MODEL_SHA256_BYTES an "initializer list" without saying
 * whether it carries its own braces. Wrapping it in a struct accepts both forms:
 * "{0x12, ...}" initialises the member, "0x12, ..." initialises it by brace elision.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-braces"
static const struct {
    uint8_t bytes[32];
} model_sha256 = {PEEKLESS_MODEL_SHA256_BYTES};
#pragma GCC diagnostic pop

/* Every buffer that held pixels or activations, zeroed before the next frame. */
static void wipe_frame_state(void)
{
    pk_wipe(framebuffer, sizeof framebuffer);
    pk_wipe(model_input, sizeof model_input);
    pk_wipe(model_output, sizeof model_output);
    pk_wipe(peekless_model_arena, PEEKLESS_MODEL_ARENA_BYTES);
}

/* Any failure: scrub, then stop without printing anything outside the framing. */
static void fail(int status) __attribute__((noreturn));
static void fail(int status)
{
    wipe_frame_state();
    pk_hal_exit(status);
}

static void send_hello(void)
{
    pk_hello h;

    h.build_kind = PEEKLESS_BUILD_HIL ? PK_BUILD_HIL : PK_BUILD_PRODUCTION;
    h.policy = PK_POLICY_PER_FRAME;
    h.leak_budget_bits = 1;
    h.fw_version = PK_FW_VERSION;
    h.board = pk_hal_board_name();
    h.model_sha256 = model_sha256.bytes;
    if (pk_link_send_hello(&h) != PK_LINK_OK) {
        fail(PK_EXIT_LINK);
    }
}

static void stats_add(pk_stats *s, uint64_t insn)
{
    const uint32_t clipped = insn > UINT32_MAX ? UINT32_MAX : (uint32_t)insn;

    if (s->frames == 0 || clipped < s->insn_min) {
        s->insn_min = clipped;
    }
    if (clipped > s->insn_max) {
        s->insn_max = clipped;
    }
    s->insn_total += insn;
    s->frames++;
}

#if PEEKLESS_TEST_LEAK_RAW_FRAME
/*
 * TEST ONLY -- the deliberately leaky variant (make LEAK=raw_frame, HIL builds only).
 * Sends the raw frame unframed so the privacy audit has a known leak to catch.
 */
static void test_only_leak_raw_frame(void)
{
    pk_hal_serial_write(framebuffer, sizeof framebuffer);
}
#endif

int main(int argc, char **argv)
{
    pk_stats stats = {0, 0, 0, 0};

    if (pk_hal_init(argc, argv) != PK_HAL_OK) {
        fail(PK_EXIT_INIT);
    }
    send_hello();

    for (;;) {
        pk_format fmt = {PEEKLESS_MODEL_INPUT_W, PEEKLESS_MODEL_INPUT_H,
                         PEEKLESS_MODEL_INPUT_C == 3 ? PK_PIXFMT_RGB888 : PK_PIXFMT_GRAY8};
        const int cam = pk_hal_camera_capture(framebuffer, sizeof framebuffer, &fmt);

        if (cam == PK_HAL_END_OF_FRAMES) {
            break;
        }
        if (cam != PK_HAL_OK) {
            fail(PK_EXIT_CAMERA);
        }
        if (pk_preprocess(framebuffer, &fmt, PEEKLESS_MODEL_INPUT_H, PEEKLESS_MODEL_INPUT_W,
                          PEEKLESS_MODEL_INPUT_C, model_input,
                          sizeof model_input) != PK_PRE_OK) {
            fail(PK_EXIT_PREPROCESS);
        }

        const uint64_t t0 = pk_hal_insn_count();
        const int rc = peekless_model_invoke(model_input, model_output);
        const uint64_t t1 = pk_hal_insn_count();
        if (rc != 0) {
            fail(PK_EXIT_INVOKE);
        }

        const bool person = model_output[PEEKLESS_MODEL_PERSON_INDEX] >
                            model_output[1 - PEEKLESS_MODEL_PERSON_INDEX];
        pk_link_send_decision(stats.frames, person);
#if PEEKLESS_TEST_LEAK_RAW_FRAME
        test_only_leak_raw_frame();
#endif
        stats_add(&stats, t1 - t0);
        wipe_frame_state();
    }

#if PEEKLESS_BUILD_HIL
    pk_link_send_stats(&stats);
    pk_link_send_bye(stats.frames);
    pk_hal_exit(PK_EXIT_OK);
#else
    /* Production cameras never run out of frames; reaching here is a camera fault. */
    fail(PK_EXIT_CAMERA);
#endif
}
