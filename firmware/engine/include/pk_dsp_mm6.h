/* Internal to the engine (DSP-extension variants): six pixels times every row of a packed
 * filter (pk_engine_packed.h), the inner product of the pointwise and general convolutions.
 *
 * The pixels' inputs are first widened to int16 in the order SMLAD wants (pk_dsp.h): per
 * group g of 4 inputs, 12 words, pixel p's (x0, x2) and (x1, x3) at words 2p and 2p + 1.
 * For each filter row the assembly loads each weight word once, splits it with two SXTB16
 * and uses it for all six pixels: per group 1 LDR, 2 SXTB16, 3 LDM and 12 SMLAD for 24
 * MACs (6 accumulators, 2 weight, 4 input and 2 pointer registers: all fourteen). Then it
 * reads the row's table through the same pointer, requantizes the six accumulators (ADD,
 * SMMLAR, ADD, ASR, SSAT each) and stores one byte per pixel; the activation clamp, where
 * a layer has one, is a pass of its own (pk_dsp_clamp).
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
    int32_t groups;         /* groups of 4 inputs per row, >= 1 */
} pk_dsp_mm6_args;

typedef char pk_dsp_mm6_layout_check[(offsetof(pk_dsp_mm6_args, x16) == 4 &&
                                      offsetof(pk_dsp_mm6_args, groups) == 24)
                                         ? 1
                                         : -1];

/* The arguments for rows of k inputs; out and out_end are set per block. */
static inline pk_dsp_mm6_args pk_dsp_mm6_make(const int8_t *filter, uint32_t *x16, int32_t k,
                                              int32_t stride)
{
    const int32_t groups = PK_ALIGN4(k) / 4;
    const pk_dsp_mm6_args a = {filter, x16, x16 + 12 * groups, NULL, stride, NULL, groups};
    return a;
}

/* The activation clamp, where it is not the whole int8 range, over n pixels of `rows`
 * outputs each (pixel p at out + p * stride): after pk_dsp_mm6, which saturates to int8
 * only. */
static inline void pk_dsp_clamp(int8_t *out, int32_t stride, int32_t n, int32_t rows,
                                const pk_conv_params *p)
{
    if (p->act_min == -128 && p->act_max == 127) {
        return;
    }
    for (int32_t i = 0; i < n; i++, out += stride) {
        for (int32_t c = 0; c < rows; c++) {
            out[c] = (int8_t)pk_min_ct(pk_max_ct(out[c], p->act_min), p->act_max);
        }
    }
}

/* The rows from args->w to out_end, for six pixels: out[p * stride + c]. In pk_dsp_mm6.c. */
void pk_dsp_mm6(const pk_dsp_mm6_args *args);

/* The same for three pixels (x16 with 6 words a group): the last block of a layer whose
 * pixel count leaves 1 to 3 over, at half the cost of a block of six. */
void pk_dsp_mm3(const pk_dsp_mm6_args *args);

/* Widen `words` words from src (any alignment) into one pixel's column of x16 (xp: that
 * pixel's pair in the current group; a group every 12 words); returns the next group's
 * position. 6 instructions a word. */
#define PK_DSP_WIDEN_RUN(NAME, STEP)                                                           \
    static inline __attribute__((always_inline)) uint32_t *NAME(const int8_t *src,              \
                                                                int32_t words, uint32_t *xp)    \
    {                                                                                          \
        uint32_t v, t;                                                                         \
        if (words > 0) {                                                                       \
            __asm__ volatile("1:\n\t"                                                           \
                             "ldr    %[v], [%[s]], #4\n\t"                                     \
                             "sxtb16 %[t], %[v]\n\t"                                           \
                             "sxtb16 %[v], %[v], ror #8\n\t"                                   \
                             "strd   %[t], %[v], [%[x]], #" #STEP "\n\t"                       \
                             "subs   %[n], %[n], #1\n\t"                                       \
                             "bne    1b\n\t"                                                   \
                             : [v] "=&r"(v), [t] "=&r"(t), [s] "+r"(src), [x] "+r"(xp),        \
                               [n] "+r"(words)                                                 \
                             :                                                                 \
                             : "cc", "memory");                                                \
        }                                                                                      \
        return xp;                                                                             \
    }
PK_DSP_WIDEN_RUN(pk_dsp_widen_run, 48)  /* six pixels: a group every 12 words */
PK_DSP_WIDEN_RUN(pk_dsp_widen_run3, 24) /* three pixels: a group every 6 words */

/* Widen n (6 or 3) pixels of k int8 inputs each (pixel p's at px[p]) into x16:
 * PK_ALIGN4(k) / 4 groups of 2n words, zero past k. */
static inline void pk_dsp_widen6(const int8_t *const px[6], int32_t k, uint32_t *x16,
                                 int32_t n)
{
    const int32_t full = k >> 2, tail = k & 3;
    for (int32_t p = 0; p < n; p++) {
        uint32_t *xp = n == 6 ? pk_dsp_widen_run(px[p], full, x16 + 2 * p)
                              : pk_dsp_widen_run3(px[p], full, x16 + 2 * p);
        if (tail) {
            const uint32_t v = pk_read_tail(px[p] + 4 * full, tail);
            xp[0] = __sxtb16(v);
            xp[1] = pk_sxtb16_ror8(v);
        }
    }
}

#endif /* PK_DSP_MM6_H */
