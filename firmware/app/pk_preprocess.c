#include "pk_preprocess.h"

int pk_preprocess(const uint8_t *pixels, const pk_format *fmt, uint16_t want_h,
                  uint16_t want_w, uint8_t want_c, int8_t *out, size_t out_len)
{
    const size_t n = (size_t)want_h * want_w * want_c;

    if (fmt->height != want_h || fmt->width != want_w ||
        pk_format_bpp(fmt->pixfmt) != want_c) {
        return PK_PRE_ERR_SHAPE;
    }
    if (out_len != n) {
        return PK_PRE_ERR_SIZE;
    }
    /* p - 128 in two's complement is p with its top bit flipped. */
    for (size_t i = 0; i < n; i++) {
        out[i] = (int8_t)(pixels[i] ^ 0x80u);
    }
    return PK_PRE_OK;
}
