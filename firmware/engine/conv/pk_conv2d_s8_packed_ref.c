/* General int8 2-D convolution with a packed filter (pk_engine_packed.h), reference
 * version: any kernel size, stride, dilation and padding; padded taps take the input zero
 * point (the folded bias cancels them). Output pixels in row order (row-streaming). */
#include "pk_engine_packed.h"
#include "pk_requantize.h"

pk_status pk_conv2d_s8_packed_ref(const pk_ctx *ctx, const pk_conv_params *p, const pk_quant *q,
                                  const pk_dims *in_dims, const int8_t *in,
                                  const pk_dims *filter_dims, const int8_t *filter,
                                  const int32_t *bias, const pk_dims *out_dims, int8_t *out)
{
    (void)bias;
    if (!ctx || !p || !q || !in_dims || !in || !filter_dims || !filter || !out_dims || !out) {
        return PK_ERR_ARG;
    }
    const int32_t ih = in_dims->h, iw = in_dims->w, ic = in_dims->c;
    const int32_t kh = filter_dims->h, kw = filter_dims->w;
    const int32_t oh = out_dims->h, ow = out_dims->w, oc = out_dims->c;
    if (ctx->size < PK_CONV2D_PACKED_SCRATCH_BYTES(kh, kw, ic, oc)) {
        return PK_ERR_ARG; /* the optimized variants need it; keep the contract uniform */
    }
    const int32_t k = PK_PACKED_K_CONV(kh, kw, ic), row = PK_PACKED_ROW_BYTES(k);
    const int32_t zp = p->input_zero_point;
    for (int32_t oy = 0; oy < oh; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (int32_t ox = 0; ox < ow; ox++) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            for (int32_t c = 0; c < oc; c++) {
                int32_t acc = 0;
                for (int32_t ky = 0; ky < kh; ky++) {
                    const int32_t iy = iy0 + ky * p->dilation_h;
                    const int8_t *f = filter + c * row + ky * kw * ic;
                    for (int32_t kx = 0; kx < kw; kx++, f += ic) {
                        const int32_t ix = ix0 + kx * p->dilation_w;
                        if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) {
                            /* Padded tap: the value is the zero point (see folded bias). */
                            for (int32_t i = 0; i < ic; i++) {
                                acc += zp * f[i];
                            }
                            continue;
                        }
                        const int8_t *x = in + (iy * iw + ix) * ic;
                        for (int32_t i = 0; i < ic; i++) {
                            acc += x[i] * f[i];
                        }
                    }
                }
                const pk_packed_table t = pk_packed_table_of(filter, k, c);
                const int32_t v = pk_requant_packed(t.bias2 + 2 * acc, t.multiplier, t.round, t.e);
                *out++ = (int8_t)pk_clamp(v, p->act_min, p->act_max);
            }
        }
    }
    return PK_OK;
}
