/*
 * The whole product: capture -> preprocess -> infer -> decide -> emit -> wipe, once per
 * frame, with every pixel-holding buffer static and wiped before the next capture.
 * Only the decision record leaves the device (plus, in HIL builds, timing statistics),
 * as the policy chosen at build time allows (pk_config.h, PEEKLESS_POLICY).
 */
#include <stdbool.h>
#include <stdint.h>

#include "peekless_model.h"
#include "pk_config.h"
#include "pk_decide.h"
#include "pk_hal.h"
#include "pk_link.h"
#include "pk_preprocess.h"
#include "pk_wipe.h"
#if PEEKLESS_BUILD_HIL
#include "pk_cmd.h"
#include "pk_hil_checkpoint.h"
#endif
#if PEEKLESS_TEST_LEAK
#include "pk_test_leaks_hil.h" /* TEST ONLY: deliberately leaky variants */
#endif

#if PEEKLESS_MODEL_OUTPUT_BYTES != 2
#error "the decision rule (pk_decide.h) expects a two-class model output"
#endif
#if PEEKLESS_MODEL_INPUT_C != 1 && PEEKLESS_MODEL_INPUT_C != 3
#error "model input must have 1 (gray) or 3 (RGB) channels"
#endif

/* Camera frames of any supported size and format up to PK_FRAMEBUFFER_BYTES. */
static uint8_t framebuffer[PK_FRAMEBUFFER_BYTES];
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

/*
 * Stack bytes below main's frame that the per-frame calls may have used and that are
 * zeroed after each frame: kernels and preprocessing keep pixel-derived values in
 * locals, and a spilled local outlives its call in RAM.
 */
#define PK_STACK_SCRUB_BYTES 2048u

/* Zero PK_STACK_SCRUB_BYTES of the stack below the caller's frame. */
__attribute__((noinline)) static void wipe_stack_below(void)
{
    volatile uint8_t area[PK_STACK_SCRUB_BYTES];

    pk_wipe((void *)area, sizeof area);
}

/* Every buffer that held pixels or activations, zeroed before the next frame. */
static void wipe_frame_state(void)
{
#if PEEKLESS_TEST_LEAK
    if (!pk_test_leak_skip_framebuffer_wipe()) /* TEST ONLY: ram_remnant keeps it */
#endif
    {
        pk_wipe(framebuffer, sizeof framebuffer);
    }
    pk_wipe(model_input, sizeof model_input);
    pk_wipe(model_output, sizeof model_output);
    pk_wipe(peekless_model_arena, PEEKLESS_MODEL_ARENA_BYTES);
    wipe_stack_below();
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
    h.policy = PEEKLESS_POLICY == PK_POLICY_ID_EVENT_ONLY ? PK_POLICY_EVENT_ONLY
                                                          : PK_POLICY_PER_FRAME;
    h.leak_budget_bits = 1; /* per frame, or per change under event-only */
    h.fw_version = PK_FW_VERSION;
    h.board = pk_hal_board_name();
    h.model_sha256 = model_sha256.bytes;
    h.rule = pk_decide_rule_built;
    if (pk_link_send_hello(&h) != PK_LINK_OK) {
        fail(PK_EXIT_LINK);
    }
}

/*
 * The policy: per-frame sends every decision; event-only sends frame 0's and then only
 * changes. *last: in/out, the last decision sent (-1 before the first).
 */
static void emit_decision(uint32_t seq, bool person, int *last)
{
#if PEEKLESS_POLICY == PK_POLICY_ID_EVENT_ONLY
    if (*last == (int)person) {
        return;
    }
#endif
    *last = (int)person;
    pk_link_send_decision(seq, person);
}

#if PEEKLESS_BUILD_HIL
/* HIL only: host commands (docs/PROTOCOL.md, "Serial link: host to device"). */
static pk_cmd_parser cmd_parser;
static uint32_t frame_limit = UINT32_MAX;

/* Act on every command received so far; true when the run must end now. */
static bool hil_poll_commands(uint32_t frames_done)
{
    int b;
    pk_cmd cmd;

    while ((b = pk_hal_serial_read_byte()) >= 0) {
        if (pk_cmd_feed(&cmd_parser, (uint8_t)b, &cmd) != PK_CMD_READY) {
            continue; /* partial or refused frames are dropped silently */
        }
        if (cmd.type == PK_CMD_PING) {
            pk_cmd_send_pong(cmd.arg);
        } else if (cmd.type == PK_CMD_STOP) {
            frame_limit = frames_done;
        } else if (cmd.type == PK_CMD_LIMIT) {
            frame_limit = cmd.arg;
        }
    }
    return frames_done >= frame_limit;
}
#endif

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

int main(int argc, char **argv)
{
    pk_stats stats = {0, 0, 0, 0};
    pk_decide_state decide;
    int last_sent = -1;

    if (pk_hal_init(argc, argv) != PK_HAL_OK) {
        fail(PK_EXIT_INIT);
    }
#if PEEKLESS_BUILD_HIL
    pk_cmd_parser_init(&cmd_parser);
#endif
    send_hello();
    pk_decide_init(&decide);

    for (;;) {
        pk_format fmt = {PK_CAMERA_WIDTH, PK_CAMERA_HEIGHT, PK_CAMERA_PIXFMT};
        const uint32_t seq = stats.frames;

        pk_hal_watchdog_kick();
#if PEEKLESS_BUILD_HIL
        if (hil_poll_commands(seq)) {
            break;
        }
#endif
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

        const bool person = pk_decide(&decide, model_output);
#if PEEKLESS_TEST_LEAK
        /* TEST ONLY: a leaky variant may replace the DECISION or send more after it. */
        if (!pk_test_leak_replace_decision(seq, person, framebuffer, &fmt)) {
            emit_decision(seq, person, &last_sent);
        }
        pk_test_leak_after_decision(seq, framebuffer, &fmt);
#else
        emit_decision(seq, person, &last_sent);
#endif
        stats_add(&stats, t1 - t0);
        wipe_frame_state();
#if PEEKLESS_BUILD_HIL
        pk_hil_checkpoint(seq); /* RAM read-back point of the privacy tests */
#endif
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
