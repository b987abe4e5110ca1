/* Pointwise int8 convolution for Cortex-M4/M7 (DSP extension): two pixels at a time,
 * widened once to int16, times two filter rows per step with SMLAD (pk_dsp.h). Same
 * results and same in-place contract as pk_conv2d_1x1_s8_ref. */
#include "pk_engine.h"

#if defined(__ARM_FEATURE_DSP)
#include "pk_dsp.h"

PK_DSP_MATMUL2_PICK

static void run(const int8_t *in, const int8_t *filter, const int32_t *bias, int8_t *out,
                int32_t ic, int32_t oc, int32_t pixels, uint32_t *x16, pk_dsp_rq r)
{
    const pk_dsp_matmul2_fn mm = pick_matmul2(r.fast, r.full_range);
    if (oc <= ic) { /* forward */
        int32_t px = 0;
        for (; px + 2 <= pixels; px += 2) {
            pk_dsp_widen2(in + px * ic, in + (px + 1) * ic, ic, x16);
            mm(x16, filter, bias, ic, oc, r, out + px * oc, out + (px + 1) * oc);
        }
        if (px < pixels) { /* the odd pixel, computed twice into the same place */
            pk_dsp_widen2(in + px * ic, in + px * ic, ic, x16);
            mm(x16, filter, bias, ic, oc, r, out + px * oc, out + px * oc);
        }
    } else { /* backward: the output is wider than the input */
        int32_t px = pixels;
        if (px & 1) {
            px--;
            pk_dsp_widen2(in + px * ic, in + px * ic, ic, x16);
            mm(x16, filter, bias, ic, oc, r, out + px * oc, out + px * oc);
        }
        while (px >= 2) {
            px -= 2;
            pk_dsp_widen2(in + px * ic, in + (px + 1) * ic, ic, x16);
            mm(x16, filter, bias, ic, oc, r, out + px * oc, out + (px + 1) * oc);
        }
    }
}

pk_status pk_conv2d_1x1_s8_dsp(const pk_ctx *ctx, const pk_conv_params *p, const pk_quant *q,
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
    uint32_t *x16 = (uint32_t *)ctx->buf;
    int32_t *table = (int32_t *)((int8_t *)ctx->buf + 4 * PK_ALIGN8(ic));
    const int32_t pixels = out_dims->h * out_dims->w;
    const int fast = pk_dsp_fast_table(q, p, oc, table);
    const int full = p->act_min == -128 && p->act_max == 127;
    run(in, filter, bias, out, ic, oc, pixels, x16, pk_dsp_rq_make(q, p, table, fast, full));
    return PK_OK;
}

#else
typedef int pk_conv2d_1x1_s8_dsp_needs_dsp; /* ISO C wants a declaration */
#endif
