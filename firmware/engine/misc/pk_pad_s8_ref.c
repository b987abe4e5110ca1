/* Int8 spatial padding, as TFLite's PAD/PADV2: the input surrounded by rows and columns of
 * one value (the output zero point, or PADV2's constant). */
#include <string.h>

#include "pk_engine.h"

pk_status pk_pad_s8_ref(const pk_pad_params *p, const pk_dims *in_dims, const int8_t *in,
                        const pk_dims *out_dims, int8_t *out)
{
    if (!p || !in_dims || !in || !out_dims || !out) {
        return PK_ERR_ARG;
    }
    const int32_t ch = in_dims->c, ow = out_dims->w;
    if (out_dims->c != ch || out_dims->h != in_dims->h + p->pad_top + p->pad_bottom ||
        ow != in_dims->w + p->pad_left + p->pad_right) {
        return PK_ERR_SHAPE;
    }
    const size_t out_row = (size_t)ow * (size_t)ch, in_row = (size_t)in_dims->w * (size_t)ch;
    for (int32_t oy = 0; oy < out_dims->h; oy++, out += out_row) {
        const int32_t iy = oy - p->pad_top;
        if (iy < 0 || iy >= in_dims->h) {
            memset(out, p->value, out_row);
            continue;
        }
        const size_t left = (size_t)p->pad_left * (size_t)ch;
        memset(out, p->value, left);
        memcpy(out + left, in + (size_t)iy * in_row, in_row);
        memset(out + left + in_row, p->value, out_row - left - in_row);
    }
    return PK_OK;
}
