/* Depthwise int8 2-D convolution with any depth multiplier, stride, dilation and padding. */
#include "pk_engine.h"
#include "pk_requantize.h"

pk_status pk_depthwise_conv2d_s8_ref(const pk_ctx *ctx, const pk_conv_params *p, const pk_quant *q,
                                 const pk_dims *in_dims, const int8_t *in,
                                 const pk_dims *filter_dims, const int8_t *filter,
                                 const int32_t *bias, const pk_dims *out_dims, int8_t *out)
{
    if (!ctx || !p || !q || !in_dims || !in || !filter_dims || !filter || !bias || !out_dims || !out) {
        return PK_ERR_ARG;
    }
    if (ctx->size < PK_DEPTHWISE_CONV2D_SCRATCH_BYTES(filter_dims->h, filter_dims->w, in_dims->c, out_dims->c)) {
        return PK_ERR_ARG; /* the optimized variants need it; keep the contract uniform */
    }
    const int32_t ih = in_dims->h, iw = in_dims->w, ic = in_dims->c;
    const int32_t kh = filter_dims->h, kw = filter_dims->w;
    const int32_t oh = out_dims->h, ow = out_dims->w, oc = out_dims->c;
    const int32_t mult = p->depth_multiplier;
    const int32_t zp = p->input_zero_point;

    for (int32_t oy = 0; oy < oh; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (int32_t ox = 0; ox < ow; ox++) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            for (int32_t c = 0; c < oc; c++) {
                const int32_t in_c = c / mult;
                int32_t acc = bias[c];
                for (int32_t ky = 0; ky < kh; ky++) {
                    const int32_t iy = iy0 + ky * p->dilation_h;
                    for (int32_t kx = 0; kx < kw; kx++) {
                        const int32_t ix = ix0 + kx * p->dilation_w;
                        const int32_t w = filter[(ky * kw + kx) * oc + c];
                        if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) {
                            acc += zp * w; /* padded tap, cancelled by the folded bias */
                        } else {
                            acc += in[(iy * iw + ix) * ic + in_c] * w;
                        }
                    }
                }
                *out++ = pk_requantize_clamp(acc, q->multiplier[c], q->shift[c], q->rounding,
                                             p->output_zero_point, p->act_min, p->act_max);
            }
        }
    }
    return PK_OK;
}
