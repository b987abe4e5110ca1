/* General int8 convolution for Cortex-M55 (Helium): each output pixel's receptive field is
 * gathered (im2col, padded taps take the input zero point), then multiplied by the filter
 * rows four at a time with VMLADAVA. Output pixels in row order (the _ref's contract). */
#include "pk_engine.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include "pk_mve.h"

pk_status pk_conv2d_s8_mve(const pk_ctx *ctx, const pk_conv_params *p, const pk_quant *q,
                           const pk_dims *in_dims, const int8_t *in, const pk_dims *filter_dims,
                           const int8_t *filter, const int32_t *bias, const pk_dims *out_dims,
                           int8_t *out)
{
    if (!ctx || !p || !q || !in_dims || !in || !filter_dims || !filter || !bias || !out_dims ||
        !out) {
        return PK_ERR_ARG;
    }
    const int32_t ih = in_dims->h, iw = in_dims->w, ic = in_dims->c;
    const int32_t kh = filter_dims->h, kw = filter_dims->w, oc = out_dims->c;
    if (ctx->size < PK_CONV2D_SCRATCH_BYTES(kh, kw, ic, oc)) {
        return PK_ERR_ARG;
    }
    int8_t *col = (int8_t *)ctx->buf;
    const int32_t k_len = kh * kw * ic;
    const int8_t zp = (int8_t)p->input_zero_point;
    for (int32_t oy = 0; oy < out_dims->h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (int32_t ox = 0; ox < out_dims->w; ox++, out += oc) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            int8_t *dst = col;
            for (int32_t ky = 0; ky < kh; ky++) {
                const int32_t iy = iy0 + ky * p->dilation_h;
                for (int32_t kx = 0; kx < kw; kx++, dst += ic) {
                    const int32_t ix = ix0 + kx * p->dilation_w;
                    if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) {
                        memset(dst, zp, (size_t)ic);
                    } else {
                        memcpy(dst, in + (iy * iw + ix) * ic, (size_t)ic);
                    }
                }
            }
            pk_mve_pixel(col, filter, bias, k_len, oc, p, q, out);
        }
    }
    return PK_OK;
}

#else
typedef int pk_conv2d_s8_mve_needs_mve; /* ISO C wants a declaration */
#endif
