/* Pointwise (1x1, stride 1, no padding) int8 convolution, reference version: a
 * [P x IC] x [IC x OC] product, one pixel at a time. Runs in place (out == in): each
 * pixel's input is copied to scratch before its outputs are written, and pixels are
 * walked backward when the output is wider than the input (see pk_engine.h). */
#include <string.h>

#include "pk_engine.h"
#include "pk_requantize.h"

pk_status pk_conv2d_1x1_s8_ref(const pk_ctx *ctx, const pk_conv_params *p, const pk_quant *q,
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
    int8_t *x = (int8_t *)ctx->buf;
    const int32_t pixels = out_dims->h * out_dims->w;
    const int backward = oc > ic;
    for (int32_t n = 0; n < pixels; n++) {
        const int32_t px = backward ? pixels - 1 - n : n;
        memcpy(x, in + px * ic, (size_t)ic);
        int8_t *o = out + px * oc;
        for (int32_t c = 0; c < oc; c++) {
            const int8_t *f = filter + c * ic;
            int32_t acc = bias[c];
            for (int32_t i = 0; i < ic; i++) {
                acc += x[i] * f[i];
            }
            o[c] = pk_requantize_clamp(acc, q->multiplier[c], q->shift[c], q->rounding,
                                       p->output_zero_point, p->act_min, p->act_max);
        }
    }
    return PK_OK;
}
