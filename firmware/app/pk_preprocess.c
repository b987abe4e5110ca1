/*
 * Device preprocessing: centre crop, colour conversion, box-average resize, int8 offset.
 * Integer only, no buffers: each source pixel of the crop is converted once, straight into
 * its output pixel's running sums. Every formula here is written out in
 * docs/PROTOCOL.md ("Preprocessing") and mirrored by training/camera_preprocess.py.
 */
#include "pk_preprocess.h"

/* Clamp v >> 8 to 0..255; v < 0 gives 0, so no right shift of a negative number. */
static inline uint32_t clamp_shift8(int32_t v)
{
    if (v < 0) {
        return 0;
    }
    v >>= 8;
    return v > 255 ? 255u : (uint32_t)v;
}

/* Source pixel (x, y) as R, G, B. x, y inside the frame. */
static inline void load_rgb(const uint8_t *frame, const pk_format *fmt, uint32_t x,
                            uint32_t y, uint32_t rgb[3])
{
    const size_t i = (size_t)y * fmt->width + x;

    switch (fmt->pixfmt) {
    case PK_PIXFMT_GRAY8:
        rgb[0] = rgb[1] = rgb[2] = frame[i];
        break;
    case PK_PIXFMT_RGB888:
        rgb[0] = frame[3u * i];
        rgb[1] = frame[3u * i + 1u];
        rgb[2] = frame[3u * i + 2u];
        break;
    case PK_PIXFMT_RGB565: {
        /* Little-endian RRRRRGGG GGGBBBBB; widen by replicating the top bits. */
        const uint32_t v = (uint32_t)frame[2u * i] | (uint32_t)frame[2u * i + 1u] << 8;
        const uint32_t r5 = v >> 11, g6 = (v >> 5) & 0x3Fu, b5 = v & 0x1Fu;
        rgb[0] = r5 << 3 | r5 >> 2;
        rgb[1] = g6 << 2 | g6 >> 4;
        rgb[2] = b5 << 3 | b5 >> 2;
        break;
    }
    default: { /* PK_PIXFMT_YUYV: Y0 U Y1 V; pixel x has Y at 2x, its pair's U and V */
        const uint8_t *pair = &frame[2u * (i & ~(size_t)1u)];
        const int32_t c = (int32_t)frame[2u * i] - 16;
        const int32_t d = (int32_t)pair[1] - 128;
        const int32_t e = (int32_t)pair[3] - 128;
        /* BT.601 limited range to full range RGB, 8-bit fixed point. */
        rgb[0] = clamp_shift8(298 * c + 409 * e + 128);
        rgb[1] = clamp_shift8(298 * c - 100 * d - 208 * e + 128);
        rgb[2] = clamp_shift8(298 * c + 516 * d + 128);
        break;
    }
    }
}

int pk_preprocess(const uint8_t *frame, const pk_format *fmt, uint16_t out_h, uint16_t out_w,
                  uint8_t out_c, int8_t *out, size_t out_len)
{
    const uint32_t fw = fmt->width, fh = fmt->height;
    uint32_t cw, ch, x0, y0;
    size_t o = 0;

    if (fw == 0 || fh == 0 || pk_format_bpp(fmt->pixfmt) == 0 ||
        fw * fh > PK_PRE_MAX_PIXELS || (fmt->pixfmt == PK_PIXFMT_YUYV && (fw & 1u) != 0) ||
        out_h == 0 || out_w == 0 || (out_c != 1 && out_c != 3)) {
        return PK_PRE_ERR_SHAPE;
    }
    if (out_len != (size_t)out_h * out_w * out_c) {
        return PK_PRE_ERR_SIZE;
    }

    /* 1. The largest centred crop with the model's aspect ratio (floor, at least 1). */
    if ((uint64_t)fw * out_h >= (uint64_t)fh * out_w) {
        ch = fh;
        cw = (uint32_t)((uint64_t)fh * out_w / out_h);
    } else {
        cw = fw;
        ch = (uint32_t)((uint64_t)fw * out_h / out_w);
    }
    cw = cw == 0 ? 1u : cw;
    ch = ch == 0 ? 1u : ch;
    x0 = (fw - cw) / 2u;
    y0 = (fh - ch) / 2u;

    /* 2-4. Box average of converted pixels, rounded half up, then -128. */
    for (uint32_t oy = 0; oy < out_h; oy++) {
        const uint32_t sy0 = y0 + oy * ch / out_h;
        uint32_t sy1 = y0 + (oy + 1u) * ch / out_h;
        sy1 = sy1 > sy0 ? sy1 : sy0 + 1u;
        for (uint32_t ox = 0; ox < out_w; ox++) {
            const uint32_t sx0 = x0 + ox * cw / out_w;
            uint32_t sx1 = x0 + (ox + 1u) * cw / out_w;
            sx1 = sx1 > sx0 ? sx1 : sx0 + 1u;
            const uint32_t n = (sy1 - sy0) * (sx1 - sx0);
            uint32_t sum[3] = {0, 0, 0};

            for (uint32_t y = sy0; y < sy1; y++) {
                for (uint32_t x = sx0; x < sx1; x++) {
                    uint32_t rgb[3];
                    load_rgb(frame, fmt, x, y, rgb);
                    if (out_c == 1) {
                        sum[0] += fmt->pixfmt == PK_PIXFMT_GRAY8
                                      ? rgb[0] /* (256 g + 128) >> 8 == g */
                                      : (77u * rgb[0] + 150u * rgb[1] + 29u * rgb[2] + 128u) >> 8;
                    } else {
                        sum[0] += rgb[0];
                        sum[1] += rgb[1];
                        sum[2] += rgb[2];
                    }
                }
            }
            for (uint32_t k = 0; k < out_c; k++) {
                const uint32_t mean = (sum[k] + n / 2u) / n;
                out[o++] = (int8_t)(mean ^ 0x80u); /* mean - 128 in two's complement */
            }
        }
    }
    return PK_PRE_OK;
}
