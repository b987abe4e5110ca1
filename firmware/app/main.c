/*
 * The whole product: capture -> preprocess -> infer -> decide -> emit -> wipe, once per
 * frame, with every pixel-holding buffer static and wiped before the next capture.
 * The frame is streamed: the model asks for input rows, preprocessing makes them from
 * camera rows read one at a time into a line buffer, so the whole frame never exists in
 * RAM (nor, with a streaming model, the whole model input).
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

/* One camera row at a time: the largest pixel buffer of a clean image. */
static uint8_t camera_line[PK_CAMERA_LINE_BYTES];
/* Box sums of the model input row being made (pk_preprocess.h). */
static uint32_t preprocess_acc[PEEKLESS_MODEL_INPUT_W * PEEKLESS_MODEL_INPUT_C];
static pk_pre_stream frame_stream;
#if !defined(PEEKLESS_MODEL_STREAM_ROWS_MAX)
/* A model without the streaming entry point takes its whole input at once. */
static int8_t model_input[PEEKLESS_MODEL_INPUT_BYTES];
#endif
static int8_t model_output[PEEKLESS_MODEL_OUTPUT_BYTES];
#if PEEKLESS_TEST_LEAK
/* TEST ONLY: leaky variants keep the whole frame, which is what they leak. */
static uint8_t test_leak_frame[PK_TEST_LEAK_FRAME_BYTES];
#endif

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
 * Every buffer that held pixels or activations, wiped before the next frame: the
 * camera's own copies (pk_hal_camera_end), the line buffer, the box sums, the frame
 * state, the model's input, output and arena, and the stack below main's frame, where
 * kernels and preprocessing spilled pixel-derived locals (pk_hal_stack_scrub).
 */
static void wipe_frame_state(void)
{
    pk_hal_camera_end();
#if PEEKLESS_TEST_LEAK
    if (!pk_test_leak_skip_framebuffer_wipe()) /* TEST ONLY: ram_remnant keeps it */
    {
        pk_wipe(test_leak_frame, sizeof test_leak_frame);
    }
#endif
    pk_wipe(camera_line, sizeof camera_line);
    pk_wipe(preprocess_acc, sizeof preprocess_acc);
    pk_wipe(&frame_stream, sizeof frame_stream);
#if !defined(PEEKLESS_MODEL_STREAM_ROWS_MAX)
    pk_wipe(model_input, sizeof model_input);
#endif
    pk_wipe(model_output, sizeof model_output);
    pk_wipe(peekless_model_arena, PEEKLESS_MODEL_ARENA_BYTES);
    pk_hal_stack_scrub();
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

/* The row source of preprocessing: the camera, one row at a time, in order. */
static int read_camera_rows(void *ctx, uint8_t *dst, size_t capacity, uint16_t nrows)
{
    const int rc = pk_hal_camera_read_rows(dst, capacity, nrows);
#if PEEKLESS_TEST_LEAK
    /* TEST ONLY: keep the frame for the leaky hooks (begin_frame checked it fits). */
    const pk_pre_stream *s = ctx;
    if (rc == PK_HAL_OK) {
        for (uint32_t i = 0; i < (uint32_t)nrows * s->fmt.pitch; i++) {
            test_leak_frame[(s->rows_read * s->fmt.pitch) + i] = dst[i];
        }
    }
#else
    (void)ctx;
#endif
    return rc;
}

/*
 * Start a frame: the camera's format, then the preprocessing stream over it.
 * Returns PK_HAL_OK, PK_HAL_END_OF_FRAMES, or the exit status to fail with.
 */
static int begin_frame(void)
{
    pk_format fmt = {PK_CAMERA_WIDTH, PK_CAMERA_HEIGHT, PK_CAMERA_PIXFMT, 0};
    const pk_pre_io io = {camera_line, sizeof camera_line, preprocess_acc,
                          sizeof preprocess_acc / sizeof preprocess_acc[0], read_camera_rows,
                          &frame_stream};
    const int cam = pk_hal_camera_begin(&fmt);

    if (cam == PK_HAL_END_OF_FRAMES) {
        return cam;
    }
    if (cam != PK_HAL_OK) {
        return PK_EXIT_CAMERA;
    }
#if PEEKLESS_TEST_LEAK
    if (pk_format_frame_bytes(&fmt) > sizeof test_leak_frame) {
        return PK_EXIT_CAMERA; /* TEST ONLY: the leaky copy holds frames up to its size */
    }
#endif
    switch (pk_pre_begin(&frame_stream, &fmt, PEEKLESS_MODEL_INPUT_H, PEEKLESS_MODEL_INPUT_W,
                         PEEKLESS_MODEL_INPUT_C, &io)) {
    case PK_PRE_OK:
        return PK_HAL_OK;
    case PK_PRE_ERR_LINE:
        return PK_EXIT_CAMERA; /* a row wider than the line buffer */
    default:
        return PK_EXIT_PREPROCESS;
    }
}

/*
 * The model's input rows, made on request from camera rows (the streaming model calls
 * it with increasing rows; peekless_model.h's peekless_input_rows_fn). 0 or -1.
 */
static int fill_input_rows(void *ctx, uint16_t row0, uint16_t nrows, int8_t *dst)
{
    return pk_pre_rows((pk_pre_stream *)ctx, row0, nrows, dst) == PK_PRE_OK ? 0 : -1;
}

/* Camera rows -> preprocessing -> model -> output. Returns 0 or the exit status. */
static int infer_frame(int8_t *output)
{
#if defined(PEEKLESS_MODEL_STREAM_ROWS_MAX)
    const int rc = peekless_model_invoke_streaming(fill_input_rows, &frame_stream, output);
#else
    int rc = fill_input_rows(&frame_stream, 0, PEEKLESS_MODEL_INPUT_H, model_input);
    if (rc == 0) {
        rc = peekless_model_invoke(model_input, output);
    }
#endif
    if (frame_stream.source_status != 0) {
        return PK_EXIT_CAMERA;
    }
    if (rc != 0) {
        return PK_EXIT_INVOKE;
    }
    /* Drain the camera rows below the crop; every output row must have been made. */
    switch (pk_pre_finish(&frame_stream)) {
    case PK_PRE_OK:
        return 0;
    case PK_PRE_ERR_SOURCE:
        return PK_EXIT_CAMERA;
    default:
        return PK_EXIT_INVOKE;
    }
}

#if PEEKLESS_BUILD_HIL
/* HIL only: STATS. Its branches depend on instruction counts, never on pixels. */
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
#endif

int main(int argc, char **argv)
{
#if PEEKLESS_BUILD_HIL
    pk_stats stats = {0, 0, 0, 0};
#endif
    uint32_t frames = 0;
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
        const uint32_t seq = frames;

        pk_hal_watchdog_kick();
#if PEEKLESS_BUILD_HIL
        if (hil_poll_commands(seq)) {
            break;
        }
#endif
        const int cam = begin_frame();
        if (cam == PK_HAL_END_OF_FRAMES) {
            break;
        }
        if (cam != PK_HAL_OK) {
            fail(cam);
        }

#if PEEKLESS_BUILD_HIL
        /* STATS: instructions from the first camera row to the model output
         * (preprocessing included: with a streaming model the two interleave). */
        const uint64_t t0 = pk_hal_insn_count();
#endif
        const int rc = infer_frame(model_output);
#if PEEKLESS_BUILD_HIL
        stats_add(&stats, pk_hal_insn_count() - t0);
#endif
        if (rc != 0) {
            fail(rc);
        }

        const bool person = pk_decide(&decide, model_output);
#if PEEKLESS_TEST_LEAK
        /* TEST ONLY: a leaky variant may replace the DECISION or send more after it. */
        if (!pk_test_leak_replace_decision(seq, person, test_leak_frame, &frame_stream.fmt)) {
            emit_decision(seq, person, &last_sent);
        }
        pk_test_leak_after_decision(seq, test_leak_frame, &frame_stream.fmt);
#else
        emit_decision(seq, person, &last_sent);
#endif
        frames++;
        wipe_frame_state();
#if PEEKLESS_BUILD_HIL
        pk_hil_checkpoint(seq); /* RAM read-back point of the privacy tests */
#endif
    }

#if PEEKLESS_BUILD_HIL
    pk_link_send_stats(&stats);
    pk_link_send_bye(frames);
    pk_hal_exit(PK_EXIT_OK);
#else
    /* Production cameras never run out of frames; reaching here is a camera fault. */
    fail(PK_EXIT_CAMERA);
#endif
}
