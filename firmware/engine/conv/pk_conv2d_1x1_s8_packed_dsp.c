/* Pointwise int8 convolution with a packed filter for Cortex-M4/M7 (DSP extension): six
 * pixels at a time, widened once to int16, times every filter row by pk_dsp_mm6 (each
 * weight word loaded and split once per six pixels). Same results and same in-place
 * contract as pk_conv2d_1x1_s8_packed_ref: pixels walked forward when oc <= ic, backward
 * otherwise, each block of six read completely before any of its outputs is written. A
 * last block of fewer than six pixels repeats its last pixel and writes to scratch. */
#include <string.h>

#include "pk_engine_packed.h"

#if defined(__ARM_FEATURE_DSP)
#include "pk_dsp_mm6.h"

/* Pixels [first, first + n) (n <= 6). */
static void block(const int8_t *in, int32_t ic, int32_t first, int32_t n, int8_t *out,
                  int8_t *tail_out, pk_dsp_mm6_args *a)
{
    const int8_t *px[6];
    for (int32_t p = 0; p < 6; p++) {
        px[p] = in + (first + (p < n ? p : n - 1)) * ic;
    }
    pk_dsp_widen6(px, ic, (uint32_t *)a->x16);
    const int32_t oc = a->stride;
    a->out = n == 6 ? out + first * oc : tail_out;
    a->out_end = a->out + oc;
    pk_dsp_mm6(a);
    if (n < 6) {
        memcpy(out + first * oc, tail_out, (size_t)(n * oc));
    }
}

pk_status pk_conv2d_1x1_s8_packed_dsp(const pk_ctx *ctx, const pk_conv_params *p,
                                      const pk_quant *q, const pk_dims *in_dims,
                                      const int8_t *in, const pk_dims *filter_dims,
                                      const int8_t *filter, const int32_t *bias,
                                      const pk_dims *out_dims, int8_t *out)
{
    (void)bias;
    if (!ctx || !p || !q || !in_dims || !in || !filter_dims || !filter || !out_dims || !out) {
        return PK_ERR_ARG;
    }
    const int32_t ic = in_dims->c, oc = out_dims->c, k8 = PK_ALIGN8(ic);
    if (ctx->size < PK_CONV2D_1X1_PACKED_SCRATCH_BYTES(ic, oc)) {
        return PK_ERR_ARG;
    }
    uint32_t *x16 = (uint32_t *)ctx->buf; /* 12 * k8 bytes */
    int8_t *tail_out = (int8_t *)ctx->buf + 12 * k8;
    pk_dsp_mm6_args a = {filter, x16, x16 + 3 * k8, out, oc, out, p->act_min, p->act_max,
                         p->act_min != -128 || p->act_max != 127};
    const int32_t pixels = out_dims->h * out_dims->w, full = pixels / 6, rem = pixels % 6;
    if (oc <= ic) { /* forward */
        for (int32_t b = 0; b < full; b++) {
            block(in, ic, 6 * b, 6, out, tail_out, &a);
        }
        if (rem) {
            block(in, ic, 6 * full, rem, out, tail_out, &a);
        }
    } else { /* backward: the output is wider than the input */
        for (int32_t b = full - 1; b >= 0; b--) {
            block(in, ic, rem + 6 * b, 6, out, tail_out, &a);
        }
        if (rem) {
            block(in, ic, 0, rem, out, tail_out, &a);
        }
    }
    return PK_OK;
}

#else
typedef int pk_conv2d_1x1_s8_packed_dsp_needs_dsp; /* ISO C wants a declaration */
#endif
