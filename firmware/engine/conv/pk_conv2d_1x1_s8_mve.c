/* Pointwise int8 convolution for Cortex-M55 (Helium): one pixel at a time, copied to
 * scratch first (so it runs in place, walking pixels as pk_conv2d_1x1_s8_ref does), four
 * output channels per step with VMLADAVA over 16 inputs, four lanes requantized at once.
 * Inputs narrower than MVE_MIN_IC channels go to the DSP variant, which is faster there
 * (VMLADAVA's 16 lanes are mostly idle). */
#include "pk_engine.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include "pk_mve.h"

#define MVE_MIN_IC 32

pk_status pk_conv2d_1x1_s8_mve(const pk_ctx *ctx, const pk_conv_params *p, const pk_quant *q,
                               const pk_dims *in_dims, const int8_t *in,
                               const pk_dims *filter_dims, const int8_t *filter,
                               const int32_t *bias, const pk_dims *out_dims, int8_t *out)
{
    if (!ctx || !p || !q || !in_dims || !in || !filter_dims || !filter || !bias || !out_dims ||
        !out) {
        return PK_ERR_ARG;
    }
    const int32_t ic = in_dims->c, oc = out_dims->c;
    if (ctx->size < PK_CONV2D_1X1_SCRATCH_BYTES(ic, oc)) {
        return PK_ERR_ARG;
    }
#if defined(__ARM_FEATURE_DSP)
    if (ic < MVE_MIN_IC) {
        return pk_conv2d_1x1_s8_dsp(ctx, p, q, in_dims, in, filter_dims, filter, bias, out_dims,
                                    out);
    }
#endif
    int8_t *x = (int8_t *)ctx->buf;
    const int32_t pixels = out_dims->h * out_dims->w;
    const int backward = oc > ic;
    for (int32_t n = 0; n < pixels; n++) {
        const int32_t px = backward ? pixels - 1 - n : n;
        memcpy(x, in + px * ic, (size_t)ic);
        pk_mve_pixel(x, filter, bias, ic, oc, p, q, out + px * oc);
    }
    return PK_OK;
}

#else
typedef int pk_conv2d_1x1_s8_mve_needs_mve; /* ISO C wants a declaration */
#endif
