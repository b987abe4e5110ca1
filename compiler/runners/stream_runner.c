/* Host-side checker of the generated model's streaming API (compiler/host_runner.py builds
 * it with the model; tests/test_model_streaming.py runs it). For every input it:
 *  - poisons the arena, so a layer that read rows before they were filled, or data left
 *    by the previous inference, gives a wrong output instead of a lucky right one;
 *  - runs peekless_model_invoke_streaming with a callback that checks the contract (every
 *    row exactly once, in increasing order, at most PEEKLESS_MODEL_STREAM_ROWS_MAX rows a
 *    call, dst inside the arena) and logs each call;
 *  - checks that the calls equal the first input's (the pattern is static), and that
 *    peekless_model_invoke on the whole input gives the same output.
 *
 * usage: stream_runner INPUTS.bin OUTPUTS.bin CALLS.txt [ABORT_AT_CALL]
 *   INPUTS.bin holds N * PEEKLESS_MODEL_INPUT_BYTES bytes; OUTPUTS.bin gets N * OUTPUT_BYTES;
 *   CALLS.txt gets one line "row0 nrows dst_offset" per callback call of the first input.
 *   With ABORT_AT_CALL k, the callback returns -1 at its k-th call (from 0) of every
 *   inference: the runner then checks that the model stops there and returns
 *   PEEKLESS_MODEL_INPUT_ABORTED, and writes no outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peekless_model.h"

#define MAX_CALLS 65536

typedef struct {
    const int8_t *input;
    long next_row;
    long calls;
    long abort_at;
    long log[MAX_CALLS][3];
    const char *error;
} stream_state;

static int8_t input[PEEKLESS_MODEL_INPUT_BYTES];
static int8_t output[PEEKLESS_MODEL_OUTPUT_BYTES];
static int8_t output_whole[PEEKLESS_MODEL_OUTPUT_BYTES];
static stream_state state, first;

static int fill(void *ctx, uint16_t row0, uint16_t nrows, int8_t *dst)
{
    stream_state *s = ctx;
    const long offset = (long)(dst - peekless_model_arena);
    if (s->calls == s->abort_at) {
        s->calls++;
        return -1;
    }
    if (s->calls >= MAX_CALLS) {
        s->error = "too many calls";
    } else if (row0 != s->next_row) {
        s->error = "rows not asked in increasing order, each once";
    } else if (nrows < 1 || nrows > PEEKLESS_MODEL_STREAM_ROWS_MAX) {
        s->error = "nrows outside [1, PEEKLESS_MODEL_STREAM_ROWS_MAX]";
    } else if ((long)row0 + nrows > PEEKLESS_MODEL_INPUT_H) {
        s->error = "rows past the input";
    } else if (offset < 0 ||
               offset + (long)nrows * PEEKLESS_MODEL_INPUT_ROW_BYTES > PEEKLESS_MODEL_ARENA_BYTES) {
        s->error = "dst outside the arena";
    }
    if (s->error) {
        return -1;
    }
    s->log[s->calls][0] = row0;
    s->log[s->calls][1] = nrows;
    s->log[s->calls][2] = offset;
    s->calls++;
    s->next_row = row0 + nrows;
    memcpy(dst, s->input + (long)row0 * PEEKLESS_MODEL_INPUT_ROW_BYTES,
           (size_t)nrows * PEEKLESS_MODEL_INPUT_ROW_BYTES);
    return 0;
}

static int fail(size_t n, const char *what)
{
    fprintf(stderr, "stream_runner: input %zu: %s\n", n, what);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: %s INPUTS.bin OUTPUTS.bin CALLS.txt [ABORT_AT_CALL]\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    FILE *out = fopen(argv[2], "wb");
    FILE *calls = fopen(argv[3], "w");
    if (!in || !out || !calls) {
        fprintf(stderr, "stream_runner: cannot open the files\n");
        return 2;
    }
    const long abort_at = argc == 5 ? atol(argv[4]) : -1;
    size_t n = 0;
    while (fread(input, 1, sizeof input, in) == sizeof input) {
        memset(peekless_model_arena, (int)(0x5A ^ (n * 37u)), PEEKLESS_MODEL_ARENA_BYTES);
        memset(&state, 0, sizeof state);
        state.input = input;
        state.abort_at = abort_at;
        const int rc = peekless_model_invoke_streaming(fill, &state, output);
        if (state.error) {
            return fail(n, state.error);
        }
        if (abort_at >= 0) {
            if (rc != PEEKLESS_MODEL_INPUT_ABORTED || state.calls != abort_at + 1) {
                return fail(n, "an aborted callback did not stop the inference");
            }
            n++;
            continue;
        }
        if (rc != 0) {
            fprintf(stderr, "stream_runner: input %zu: invoke failed with %d\n", n, rc);
            return 1;
        }
        if (state.next_row != PEEKLESS_MODEL_INPUT_H || state.calls != PEEKLESS_MODEL_STREAM_CALLS) {
            return fail(n, "not every row was asked for, or not in PEEKLESS_MODEL_STREAM_CALLS calls");
        }
        if (n == 0) {
            first = state;
            for (long i = 0; i < state.calls; i++) {
                fprintf(calls, "%ld %ld %ld\n", state.log[i][0], state.log[i][1], state.log[i][2]);
            }
        } else if (state.calls != first.calls ||
                   memcmp(state.log, first.log, sizeof state.log[0] * (size_t)state.calls)) {
            return fail(n, "the callback calls differ from the first input's");
        }
        memset(peekless_model_arena, 0x33, PEEKLESS_MODEL_ARENA_BYTES);
        if (peekless_model_invoke(input, output_whole) != 0 ||
            memcmp(output, output_whole, sizeof output)) {
            return fail(n, "peekless_model_invoke and the streaming call differ");
        }
        fwrite(output, 1, sizeof output, out);
        n++;
    }
    fclose(in);
    fclose(out);
    fclose(calls);
    return 0;
}
