/* Host-side runner for generated models: reads int8 inputs from a file, invokes the model on
 * each and writes the int8 outputs. Used by tests and benchmarks to compare the engine with
 * LiteRT; it never runs on a device.
 *
 * usage: model_runner INPUTS.bin OUTPUTS.bin
 *   INPUTS.bin holds N * PEEKLESS_MODEL_INPUT_BYTES bytes; OUTPUTS.bin gets N * OUTPUT_BYTES. */
#include <stdio.h>
#include <stdlib.h>

#include "peekless_model.h"

static int8_t input[PEEKLESS_MODEL_INPUT_BYTES];
static int8_t output[PEEKLESS_MODEL_OUTPUT_BYTES];

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s INPUTS.bin OUTPUTS.bin\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    FILE *out = fopen(argv[2], "wb");
    if (!in || !out) {
        fprintf(stderr, "model_runner: cannot open %s or %s\n", argv[1], argv[2]);
        return 2;
    }
    size_t n = 0;
    while (fread(input, 1, sizeof input, in) == sizeof input) {
        int status = peekless_model_invoke(input, output);
        if (status != 0) {
            fprintf(stderr, "model_runner: input %zu: invoke failed at layer %d\n", n, -status - 1);
            return 1;
        }
        fwrite(output, 1, sizeof output, out);
        n++;
    }
    fclose(in);
    fclose(out);
    return 0;
}
