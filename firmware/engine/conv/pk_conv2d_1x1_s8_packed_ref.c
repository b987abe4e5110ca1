/* Pointwise int8 convolution with a packed filter (pk_engine_packed.h), reference version:
 * one pixel at a time, copied to scratch first so that it runs in place, pixels walked
 * backward when the output is wider than the input (pk_engine.h's overlap contract). */
#include <string.h>

#include "pk_engine_packed.h"
#include "pk_requantize.h"

pk_status pk_conv2d_1x1_s8_packed_ref(const pk_ctx *ctx, const pk_conv_params *p,
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
    int8_t *x = (int8_t *)ctx->buf;
    const int32_t pixels = out_dims->h * out_dims->w, row = PK_PACKED_ROW_BYTES(ic);
    const int backward = oc > ic;
    for (int32_t n = 0; n < pixels; n++) {
        const int32_t px = backward ? pixels - 1 - n : n;
        memcpy(x, in + px * ic, (size_t)ic);
        int8_t *o = out + px * oc;
        for (int32_t c = 0; c < oc; c++) {
            const int8_t *w = filter + c * row;
            const pk_packed_table t = pk_packed_table_of(filter, ic, c);
            int32_t acc = 0;
            for (int32_t i = 0; i < ic; i++) {
                acc += x[i] * w[i];
            }
            const int32_t v = pk_requant_packed(t.bias2 + 2 * acc, t.multiplier, t.round, t.e);
            o[c] = (int8_t)pk_clamp(v, p->act_min, p->act_max);
        }
    }
    return PK_OK;
}
