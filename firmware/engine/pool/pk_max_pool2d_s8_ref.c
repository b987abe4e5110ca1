/* Int8 max pooling, as TFLite's reference: the maximum over the window's taps inside the
 * input (padded taps are not counted), then the activation clamp. Row-streaming. */
#include "pk_engine.h"
#include "pk_requantize.h"

pk_status pk_max_pool2d_s8_ref(const pk_pool_params *p, const pk_dims *in_dims, const int8_t *in,
                               const pk_dims *out_dims, int8_t *out)
{
    if (!p || !in_dims || !in || !out_dims || !out) {
        return PK_ERR_ARG;
    }
    const int32_t ih = in_dims->h, iw = in_dims->w, ch = in_dims->c;
    for (int32_t oy = 0; oy < out_dims->h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
        const int32_t ky1 = p->filter_h < ih - iy0 ? p->filter_h : ih - iy0;
        for (int32_t ox = 0; ox < out_dims->w; ox++) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
            const int32_t kx1 = p->filter_w < iw - ix0 ? p->filter_w : iw - ix0;
            for (int32_t c = 0; c < ch; c++) {
                int32_t m = -128;
                for (int32_t ky = ky0; ky < ky1; ky++) {
                    const int8_t *row = in + ((iy0 + ky) * iw + ix0) * ch + c;
                    for (int32_t kx = kx0; kx < kx1; kx++) {
                        m = pk_max_ct(m, row[kx * ch]);
                    }
                }
                *out++ = (int8_t)pk_min_ct(pk_max_ct(m, p->act_min), p->act_max);
            }
        }
    }
    return PK_OK;
}
