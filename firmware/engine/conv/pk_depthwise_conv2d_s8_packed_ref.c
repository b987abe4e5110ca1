/* Depthwise int8 convolution with a packed filter (pk_engine_packed.h: groups of 4 channels,
 * doubled int16 weights), reference version: any kernel size, stride, dilation and padding;
 * padded taps take the input zero point. Output pixels in row order (row-streaming). */
#include <string.h>

#include "pk_engine_packed.h"
#include "pk_requantize.h"

pk_status pk_depthwise_conv2d_s8_packed_ref(const pk_ctx *ctx, const pk_conv_params *p,
                                            const pk_quant *q, const pk_dims *in_dims,
                                            const int8_t *in, const pk_dims *filter_dims,
                                            const int8_t *filter, const int32_t *bias,
                                            const pk_dims *out_dims, int8_t *out)
{
    (void)bias;
    if (!ctx || !p || !q || !in_dims || !in || !filter_dims || !filter || !out_dims || !out) {
        return PK_ERR_ARG;
    }
    const int32_t ih = in_dims->h, iw = in_dims->w, ch = in_dims->c;
    const int32_t kh = filter_dims->h, kw = filter_dims->w, taps = kh * kw;
    const int32_t oh = out_dims->h, ow = out_dims->w;
    if ((ch & 3) || out_dims->c != ch || p->depth_multiplier != 1 ||
        ctx->size < PK_DEPTHWISE_PACKED_SCRATCH_BYTES(kh, kw, p->stride_w, p->dilation_w, ow, 4)) {
        return PK_ERR_ARG;
    }
    const int32_t zp = p->input_zero_point;
    for (int32_t oy = 0; oy < oh; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (int32_t ox = 0; ox < ow; ox++) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            for (int32_t c = 0; c < ch; c++) {
                int32_t g[4]; /* the group's 2 * biases */
                const int8_t *grp = filter + (c >> 2) * PK_DW_GROUP_BYTES(taps);
                memcpy(g, grp, 4 * 4);
                const int32_t j = c & 3; /* which lane: c0, c1, c2, c3 */
                int32_t acc = g[j];
                for (int32_t ky = 0; ky < kh; ky++) {
                    const int32_t iy = iy0 + ky * p->dilation_h;
                    for (int32_t kx = 0; kx < kw; kx++) {
                        const int32_t ix = ix0 + kx * p->dilation_w;
                        int16_t w2[4]; /* the tap's doubled weights: c0, c2, c1, c3 */
                        memcpy(w2, grp + 16 + 8 * (ky * kw + kx), 8);
                        const int32_t w = w2[(j & 1) * 2 + (j >> 1)];
                        const int32_t x = (iy < 0 || iy >= ih || ix < 0 || ix >= iw)
                                              ? zp
                                              : in[(iy * iw + ix) * ch + c];
                        acc += x * w;
                    }
                }
                int32_t t[3]; /* multiplier, round, e */
                const int8_t *tab = grp + 16 + 8 * taps;
                memcpy(t, tab + 12 * j, sizeof t);
                *out++ = (int8_t)pk_clamp(pk_requant_packed(acc, t[0], t[1], t[2]), p->act_min,
                                          p->act_max);
            }
        }
    }
    return PK_OK;
}
