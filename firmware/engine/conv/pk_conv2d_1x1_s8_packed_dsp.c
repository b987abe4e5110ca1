/* Pointwise int8 convolution with a packed filter for Cortex-M4/M7 (DSP extension): six
 * pixels at a time, widened once to int16, times every filter row by pk_dsp_mm6 (each
 * weight word loaded and split once per six pixels). Same results and same in-place
 * contract as pk_conv2d_1x1_s8_packed_ref: pixels walked forward when oc <= ic, backward
 * otherwise, each block of six read completely before any of its outputs is written. A
 * last block of fewer than six pixels (of three, by pk_dsp_mm3, when 1 to 3 are left)
 * repeats its last pixel and writes to scratch. */
#include <string.h>

#include "pk_engine_packed.h"

#if defined(__ARM_FEATURE_DSP)
#include "pk_dsp_mm6.h"

/* Pixels [first, first + n) (n <= 6). */
static void block(const int8_t *in, int32_t ic, int32_t first, int32_t n, int8_t *out,
                  int8_t *tail_out, pk_dsp_mm6_args *a, const pk_conv_params *p)
{
    /* a block of six, or of three when 1 to 3 pixels are left (repeating the last) */
    const int32_t width = n > 3 ? 6 : 3;
    const int8_t *px[6];
    for (int32_t p = 0; p < width; p++) {
        px[p] = in + (first + (p < n ? p : n - 1)) * ic;
    }
    uint32_t *x16 = (uint32_t *)a->x16;
    pk_dsp_widen6(px, ic, x16, width);
    const int32_t oc = a->stride;
    a->out = n == 6 ? out + first * oc : tail_out;
    a->out_end = a->out + oc;
    if (width == 6) {
        a->x_end = x16 + 12 * a->groups;
        pk_dsp_mm6(a);
    } else {
        a->x_end = x16 + 6 * a->groups;
        pk_dsp_mm3(a);
    }
    if (n < 6) {
        memcpy(out + first * oc, tail_out, (size_t)(n * oc));
    }
    pk_dsp_clamp(out + first * oc, oc, n, oc, p);
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
    const int32_t ic = in_dims->c, oc = out_dims->c;
    if (ctx->size < PK_CONV2D_1X1_PACKED_SCRATCH_BYTES(ic, oc)) {
        return PK_ERR_ARG;
    }
    uint32_t *x16 = (uint32_t *)ctx->buf; /* 12 * PK_ALIGN4(ic) bytes */
    int8_t *tail_out = (int8_t *)ctx->buf + 12 * PK_ALIGN4(ic);
    pk_dsp_mm6_args a = pk_dsp_mm6_make(filter, x16, ic, oc);
    const int32_t pixels = out_dims->h * out_dims->w, full = pixels / 6, rem = pixels % 6;
    if (oc <= ic) { /* forward */
        for (int32_t b = 0; b < full; b++) {
            block(in, ic, 6 * b, 6, out, tail_out, &a, p);
        }
        if (rem) {
            block(in, ic, 6 * full, rem, out, tail_out, &a, p);
        }
    } else { /* backward: the output is wider than the input */
        for (int32_t b = full - 1; b >= 0; b--) {
            block(in, ic, rem + 6 * b, 6, out, tail_out, &a, p);
        }
        if (rem) {
            block(in, ic, 0, rem, out, tail_out, &a, p);
        }
    }
    return PK_OK;
}

#else
typedef int pk_conv2d_1x1_s8_packed_dsp_needs_dsp; /* ISO C wants a declaration */
#endif
