/* Internal to the engine: helpers shared by the Cortex-M55 Helium (_mve) kernels. Only
 * compiled where __ARM_FEATURE_MVE says integer MVE exists.
 *
 * Requantization of four lanes at once is TFLite's double rounding exactly, for every
 * accumulator: VSHL (left shift, wrapping like TFLite's int multiply), VQRDMULH (which is
 * SaturatingRoundingDoublingHighMul, saturation included), then RoundingDivideByPOT as a
 * rounding shift VRSHL (which adds 2^(e-1) without overflow) after subtracting one from
 * negative values when e > 0: (y & -e) >> 31 is that -1, and 0 when e == 0. */
#ifndef PK_MVE_H
#define PK_MVE_H

#include <arm_mve.h>
#include <string.h>

#include "pk_engine.h"
#include "pk_requantize.h"

/* Four consecutive channels' requantization constants (predicated: lanes past n are 0). */
typedef struct {
    int32x4_t mult, left, neg_right;
} pk_mve_q4;

static inline pk_mve_q4 pk_mve_q4_load(const pk_quant *q, int32_t c, int32_t n)
{
    const mve_pred16_t p = vctp32q((uint32_t)n);
    const int32x4_t shift = vldrwq_z_s32(q->shift + c, p);
    const int32x4_t zero = vdupq_n_s32(0);
    pk_mve_q4 r;
    r.mult = vldrwq_z_s32(q->multiplier + c, p);
    r.left = vmaxq_s32(shift, zero);
    r.neg_right = vminq_s32(shift, zero);
    return r;
}

/* int8 outputs of four accumulators, with the output zero point and activation clamp. */
static inline int32x4_t pk_mve_requant(int32x4_t acc, pk_mve_q4 k, const pk_conv_params *p)
{
    const int32x4_t a = vshlq_s32(acc, k.left);
    int32x4_t y = vqrdmulhq_s32(a, k.mult);
    const int32x4_t fix = vshrq_n_s32(vandq_s32(y, k.neg_right), 31);
    y = vrshlq_s32(vqaddq_s32(y, fix), k.neg_right);
    y = vaddq_n_s32(y, p->output_zero_point);
    y = vmaxq_s32(y, vdupq_n_s32(p->act_min));
    return vminq_s32(y, vdupq_n_s32(p->act_max));
}

/* Dot products of the len int8 values at x with four rows of len weights (row stride
 * `stride`), added to acc[0..3]; rows past `rows` are not read. */
static inline void pk_mve_dot4(const int8_t *x, const int8_t *w, int32_t len, int32_t stride,
                               int32_t rows, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
    const int8_t *w1 = w + stride, *w2 = w + 2 * stride, *w3 = w + 3 * stride;
    for (int32_t i = 0; i < len; i += 16) {
        const mve_pred16_t p = vctp8q((uint32_t)(len - i));
        const int8x16_t xv = vldrbq_z_s8(x + i, p);
        a0 = vmladavaq_s8(a0, xv, vldrbq_z_s8(w + i, p));
        if (rows > 1) {
            a1 = vmladavaq_s8(a1, xv, vldrbq_z_s8(w1 + i, p));
        }
        if (rows > 2) {
            a2 = vmladavaq_s8(a2, xv, vldrbq_z_s8(w2 + i, p));
        }
        if (rows > 3) {
            a3 = vmladavaq_s8(a3, xv, vldrbq_z_s8(w3 + i, p));
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* One pixel: the len inputs at x times every filter row, requantized into out[0..oc). */
static inline void pk_mve_pixel(const int8_t *x, const int8_t *filter, const int32_t *bias,
                                int32_t len, int32_t oc, const pk_conv_params *p,
                                const pk_quant *q, int8_t *out)
{
    for (int32_t c = 0; c < oc; c += 4) {
        const int32_t n = oc - c < 4 ? oc - c : 4;
        int32_t acc[4] = {bias[c], n > 1 ? bias[c + 1] : 0, n > 2 ? bias[c + 2] : 0,
                          n > 3 ? bias[c + 3] : 0};
        const int8_t *w = filter + c * len;
        if (n == 4) {
            pk_mve_dot4(x, w, len, len, 4, acc);
        } else {
            pk_mve_dot4(x, w, len, len, n, acc);
        }
        int32x4_t v = vldrwq_s32(acc);
        if (q->rounding == PK_ROUND_DOUBLE) {
            v = pk_mve_requant(v, pk_mve_q4_load(q, c, n), p);
            vstrbq_p_s32(out + c, v, vctp32q((uint32_t)n));
        } else {
            for (int32_t j = 0; j < n; j++) {
                out[c + j] = pk_requantize_clamp(acc[j], q->multiplier[c + j], q->shift[c + j],
                                                 q->rounding, p->output_zero_point, p->act_min,
                                                 p->act_max);
            }
        }
    }
}

#endif /* PK_MVE_H */
