/* Depthwise int8 convolution for Cortex-M4/M7 (DSP extension), depth multiplier 1 and
 * channels a multiple of 4 (anything else goes to pk_depthwise_conv2d_s8_ref). Four
 * channels per step: one word of input per tap, split by SXTB16 into the pairs (c0, c2)
 * and (c1, c3), multiplied by weights widened once per call into the same pairs, with
 * SMLABB/SMLATT. Taps are byte offsets from a base address: fixed offsets inside the
 * image, absolute addresses (base 0) at the border, where padded taps point at a row of
 * zero points. Output pixels are produced in row order (the _ref's row contract). */
#include <stdint.h>

#include "pk_engine.h"

#if defined(__ARM_FEATURE_DSP)
#include "pk_dsp.h"

#define MAX_TAPS 25

/* One tap in assembly (GCC's schedule of nine unrolled taps spills): the input word at
 * bc + off[T], widened weights w[2T], w[2T + 1]. 9 instructions for 4 MACs. */
#define TAP(T)                                                                                 \
    "ldr    %[x], [%[off], #" #T "*4]\n\t"                                                     \
    "ldr    %[x], [%[bc], %[x]]\n\t"                                                          \
    "ldrd   %[w0], %[w1], [%[w], #" #T "*8]\n\t"                                              \
    "sxtb16 %[t], %[x]\n\t"                                                                   \
    "smlabb %[a0], %[t], %[w0], %[a0]\n\t"                                                    \
    "smlatt %[a2], %[t], %[w0], %[a2]\n\t"                                                    \
    "sxtb16 %[t], %[x], ror #8\n\t"                                                           \
    "smlabb %[a1], %[t], %[w1], %[a1]\n\t"                                                    \
    "smlatt %[a3], %[t], %[w1], %[a3]\n\t"

/* Four channels of one output pixel: taps is a constant where the caller can make it one. */
static inline __attribute__((always_inline)) void
pixel(const int32_t *bias, uintptr_t base, const uint32_t *off, const uint32_t *w,
      int32_t taps, int32_t ch, int8_t *out, pk_dsp_rq r)
{
    for (int32_t c = 0; c < ch; c += 4) {
        int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
        const uintptr_t bc = base + (uintptr_t)c;
        if (taps == 9) {
            uint32_t x, t, w0, w1;
            __asm__(TAP(0) TAP(1) TAP(2) TAP(3) TAP(4) TAP(5) TAP(6) TAP(7) TAP(8)
                    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [x] "=&r"(x),
                      [t] "=&r"(t), [w0] "=&r"(w0), [w1] "=&r"(w1)
                    : [bc] "r"(bc), [off] "r"(off), [w] "r"(w)
                    : "memory");
            w += 18;
            out[c] = pk_dsp_out(a0, c, r);
            out[c + 1] = pk_dsp_out(a1, c + 1, r);
            out[c + 2] = pk_dsp_out(a2, c + 2, r);
            out[c + 3] = pk_dsp_out(a3, c + 3, r);
            continue;
        }
        for (int32_t t = 0; t < taps; t++) {
            const uint32_t x = pk_read32((const int8_t *)(bc + off[t]));
            const uint32_t xe = __sxtb16(x), xo = pk_sxtb16_ror8(x);
            a0 = __smlabb((int32_t)xe, (int32_t)w[2 * t], a0);
            a2 = __smlatt((int32_t)xe, (int32_t)w[2 * t], a2);
            a1 = __smlabb((int32_t)xo, (int32_t)w[2 * t + 1], a1);
            a3 = __smlatt((int32_t)xo, (int32_t)w[2 * t + 1], a3);
        }
        w += 2 * taps;
        out[c] = pk_dsp_out(a0, c, r);
        out[c + 1] = pk_dsp_out(a1, c + 1, r);
        out[c + 2] = pk_dsp_out(a2, c + 2, r);
        out[c + 3] = pk_dsp_out(a3, c + 3, r);
    }
}

static inline __attribute__((always_inline)) void
run(const pk_conv_params *p, const pk_dims *in_dims, const int8_t *in, const int32_t *bias,
    const pk_dims *out_dims, int8_t *out, int32_t kh, int32_t kw, const uint32_t *wext,
    const int8_t *zp_row, pk_dsp_rq r)
{
    const int32_t ih = in_dims->h, iw = in_dims->w, ch = in_dims->c;
    const int32_t taps = kh * kw;
    const int32_t sh = p->stride_h, sw = p->stride_w, dh = p->dilation_h, dw = p->dilation_w;
    const int32_t pt = p->pad_top, pl = p->pad_left, oh = out_dims->h, ow = out_dims->w;
    uint32_t inner[MAX_TAPS], border[MAX_TAPS];
    for (int32_t ky = 0, t = 0; ky < kh; ky++) {
        for (int32_t kx = 0; kx < kw; kx++, t++) {
            inner[t] = (uint32_t)((ky * dh * iw + kx * dw) * ch);
        }
    }
    for (int32_t oy = 0; oy < oh; oy++) {
        const int32_t iy0 = oy * sh - pt;
        const int rows_inside = iy0 >= 0 && iy0 + (kh - 1) * dh < ih;
        for (int32_t ox = 0; ox < ow; ox++) {
            const int32_t ix0 = ox * sw - pl;
            uintptr_t base;
            const uint32_t *off;
            if (rows_inside && ix0 >= 0 && ix0 + (kw - 1) * dw < iw) {
                base = (uintptr_t)(in + (iy0 * iw + ix0) * ch);
                off = inner;
            } else {
                for (int32_t ky = 0, t = 0; ky < kh; ky++) {
                    const int32_t iy = iy0 + ky * dh;
                    for (int32_t kx = 0; kx < kw; kx++, t++) {
                        const int32_t ix = ix0 + kx * dw;
                        border[t] = (uint32_t)(uintptr_t)((iy < 0 || iy >= ih || ix < 0 ||
                                                           ix >= iw)
                                                              ? zp_row
                                                              : in + (iy * iw + ix) * ch);
                    }
                }
                base = 0;
                off = border;
            }
            if (taps == 9) {
                pixel(bias, base, off, wext, 9, ch, out, r);
            } else {
                pixel(bias, base, off, wext, taps, ch, out, r);
            }
            out += ch;
        }
    }
}

pk_status pk_depthwise_conv2d_s8_dsp(const pk_ctx *ctx, const pk_conv_params *p,
                                     const pk_quant *q, const pk_dims *in_dims, const int8_t *in,
                                     const pk_dims *filter_dims, const int8_t *filter,
                                     const int32_t *bias, const pk_dims *out_dims, int8_t *out)
{
    if (!ctx || !p || !q || !in_dims || !in || !filter_dims || !filter || !bias || !out_dims ||
        !out) {
        return PK_ERR_ARG;
    }
    const int32_t kh = filter_dims->h, kw = filter_dims->w, ch = out_dims->c;
    if (p->depth_multiplier != 1 || (ch & 3) || kh * kw > MAX_TAPS) {
        return pk_depthwise_conv2d_s8_ref(ctx, p, q, in_dims, in, filter_dims, filter, bias,
                                          out_dims, out);
    }
    if (ctx->size < PK_DEPTHWISE_CONV2D_SCRATCH_BYTES(kh, kw, in_dims->c, ch)) {
        return PK_ERR_ARG;
    }
    /* Scratch: widened weights [group][tap][2 words], a row of zero points, the table. */
    const int32_t taps = kh * kw, groups = ch >> 2;
    uint32_t *wext = (uint32_t *)ctx->buf;
    int8_t *zp_row = (int8_t *)ctx->buf + 2 * taps * ch;
    int32_t *table = (int32_t *)(zp_row + ch);
    for (int32_t g = 0; g < groups; g++) {
        for (int32_t t = 0; t < taps; t++) {
            const uint32_t w = pk_read32(filter + t * ch + 4 * g);
            wext[(g * taps + t) * 2] = __sxtb16(w);
            wext[(g * taps + t) * 2 + 1] = pk_sxtb16_ror8(w);
        }
    }
    memset(zp_row, (int8_t)p->input_zero_point, (size_t)ch);
    const int fast = pk_dsp_fast_table(q, p, ch, table);
    const int full = p->act_min == -128 && p->act_max == 127;
    if (fast && full) {
        run(p, in_dims, in, bias, out_dims, out, kh, kw, wext, zp_row,
            pk_dsp_rq_make(q, p, table, 1, 1));
    } else if (fast) {
        run(p, in_dims, in, bias, out_dims, out, kh, kw, wext, zp_row,
            pk_dsp_rq_make(q, p, table, 1, 0));
    } else {
        run(p, in_dims, in, bias, out_dims, out, kh, kw, wext, zp_row,
            pk_dsp_rq_make(q, p, table, 0, 0));
    }
    return PK_OK;
}

#else
typedef int pk_depthwise_conv2d_s8_dsp_needs_dsp; /* ISO C wants a declaration */
#endif
