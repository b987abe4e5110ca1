/* Depthwise int8 convolution for Cortex-M55 (Helium), depth multiplier 1 (others go to
 * pk_depthwise_conv2d_s8_ref): four channels per vector, widened to int32 on load
 * (VLDRB.S32), a multiply and an add per tap; padded taps read a row of zero points. Output pixels in
 * row order (the _ref's contract). */
#include <stdint.h>

#include "pk_engine.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include "pk_mve.h"

#define MAX_TAPS 25

pk_status pk_depthwise_conv2d_s8_mve(const pk_ctx *ctx, const pk_conv_params *p,
                                     const pk_quant *q, const pk_dims *in_dims, const int8_t *in,
                                     const pk_dims *filter_dims, const int8_t *filter,
                                     const int32_t *bias, const pk_dims *out_dims, int8_t *out)
{
    if (!ctx || !p || !q || !in_dims || !in || !filter_dims || !filter || !bias || !out_dims ||
        !out) {
        return PK_ERR_ARG;
    }
    const int32_t kh = filter_dims->h, kw = filter_dims->w, ch = out_dims->c;
    if (p->depth_multiplier != 1 || kh * kw > MAX_TAPS || q->rounding != PK_ROUND_DOUBLE) {
        return pk_depthwise_conv2d_s8_ref(ctx, p, q, in_dims, in, filter_dims, filter, bias,
                                          out_dims, out);
    }
    if (ctx->size < PK_DEPTHWISE_CONV2D_SCRATCH_BYTES(kh, kw, in_dims->c, ch)) {
        return PK_ERR_ARG;
    }
    const int32_t ih = in_dims->h, iw = in_dims->w, taps = kh * kw;
    int8_t *zp_row = (int8_t *)ctx->buf; /* ch bytes of the input zero point */
    memset(zp_row, (int8_t)p->input_zero_point, (size_t)ch);
    const int8_t *tap[MAX_TAPS];
    for (int32_t oy = 0; oy < out_dims->h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (int32_t ox = 0; ox < out_dims->w; ox++, out += ch) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            for (int32_t ky = 0, t = 0; ky < kh; ky++) {
                const int32_t iy = iy0 + ky * p->dilation_h;
                for (int32_t kx = 0; kx < kw; kx++, t++) {
                    const int32_t ix = ix0 + kx * p->dilation_w;
                    tap[t] = (iy < 0 || iy >= ih || ix < 0 || ix >= iw)
                                 ? zp_row
                                 : in + (iy * iw + ix) * ch;
                }
            }
            for (int32_t c = 0; c < ch; c += 4) {
                const int32_t n = ch - c < 4 ? ch - c : 4;
                const mve_pred16_t pr = vctp32q((uint32_t)n);
                int32x4_t acc = vldrwq_z_s32(bias + c, pr);
                for (int32_t t = 0; t < taps; t++) {
                    const int32x4_t xv = vldrbq_z_s32(tap[t] + c, pr);
                    const int32x4_t wv = vldrbq_z_s32(filter + t * ch + c, pr);
                    acc = vaddq_s32(acc, vmulq_s32(xv, wv)); /* MVE has no vector VMLA */
                }
                vstrbq_p_s32(out + c, pk_mve_requant(acc, pk_mve_q4_load(q, c, n), p), pr);
            }
        }
    }
    return PK_OK;
}

#else
typedef int pk_depthwise_conv2d_s8_mve_needs_mve; /* ISO C wants a declaration */
#endif
