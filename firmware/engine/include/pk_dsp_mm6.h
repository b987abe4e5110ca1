/* Internal to the engine (DSP-extension variants): six pixels times every row of a packed
 * filter (pk_engine_packed.h), the inner product of the pointwise and general convolutions.
 *
 * The pixels' inputs are first widened to int16 in the order SMLAD wants (pk_dsp.h): per
 * group g of 4 inputs, 12 words, pixel p's (x0, x2) and (x1, x3) at words 2p and 2p + 1.
 * For each filter row the assembly loads each weight word once, splits it with two SXTB16
 * and uses it for all six pixels: per group 1 LDR, 2 SXTB16, 3 LDM and 12 SMLAD for 24
 * MACs (6 accumulators, 2 weight, 4 input and 2 pointer registers: all fourteen). Then it
 * reads the row's table through the same pointer, requantizes the six accumulators (ADD,
 * SMMLAR, ADD, ASR, SSAT each), clamps when asked and stores one byte per pixel.
 * Every branch depends on the shape (the row length, the channel count) only. */
#ifndef PK_DSP_MM6_H
#define PK_DSP_MM6_H

#include <stddef.h>

#include "pk_dsp.h"
#include "pk_engine_packed.h"

/* What the assembly reads (the field order is used there; checked below). */
typedef struct {
    const int8_t *w;        /* first packed row */
    const uint32_t *x16;    /* six widened pixels, groups * 12 words */
    const uint32_t *x_end;  /* x16 + groups * 12 */
    int8_t *out;            /* pixel 0's output for the first row */
    int32_t stride;         /* bytes from one pixel's output to the next */
    int8_t *out_end;        /* out + rows */
    int32_t act_min, act_max;
    int32_t clamp;          /* 0 when [act_min, act_max] is the whole int8 range */
} pk_dsp_mm6_args;

typedef char pk_dsp_mm6_layout_check[(offsetof(pk_dsp_mm6_args, x16) == 4 &&
                                      offsetof(pk_dsp_mm6_args, clamp) == 32)
                                         ? 1
                                         : -1];

/* The rows from args->w to out_end, for six pixels: out[p * stride + c]. The row length
 * is a multiple of 8 inputs (pk_engine_packed.h). In pk_dsp_mm6.c. */
void pk_dsp_mm6(const pk_dsp_mm6_args *args);

/* Widen six pixels of k int8 inputs each (pixel p's at px[p]) into x16: PK_ALIGN8(k) / 4
 * groups, zero past k. */
static inline void pk_dsp_widen6(const int8_t *const px[6], int32_t k, uint32_t *x16)
{
    const int32_t full = k >> 2, tail = k & 3;
    for (int32_t g = 0; g < full; g++, x16 += 12) {
        for (int32_t p = 0; p < 6; p++) {
            const uint32_t v = pk_read32(px[p] + 4 * g);
            x16[2 * p] = __sxtb16(v);
            x16[2 * p + 1] = pk_sxtb16_ror8(v);
        }
    }
    if (tail) {
        for (int32_t p = 0; p < 6; p++) {
            const uint32_t v = pk_read_tail(px[p] + 4 * full, tail);
            x16[2 * p] = __sxtb16(v);
            x16[2 * p + 1] = pk_sxtb16_ror8(v);
        }
        x16 += 12;
    }
    if ((full + (tail != 0)) & 1) { /* an odd number of groups: one more of zeros */
        for (int32_t i = 0; i < 12; i++) {
            x16[i] = 0;
        }
    }
}

#endif /* PK_DSP_MM6_H */
