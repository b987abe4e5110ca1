#include "pk_pattern.h"

#include "pk_hal.h"

/* White, yellow, cyan, green, magenta, red, blue, black (R, G, B). */
static const uint8_t bar_rgb[8][3] = {
    {255, 255, 255}, {255, 255, 0}, {0, 255, 255}, {0, 255, 0},
    {255, 0, 255},   {255, 0, 0},   {0, 0, 255},   {0, 0, 0},
};

/* BT.601 limited-range Y, U, V of an RGB colour, 8-bit fixed point. */
static uint8_t luma(const uint8_t *c)
{
    return (uint8_t)(((66 * c[0] + 129 * c[1] + 25 * c[2] + 128) >> 8) + 16);
}
static uint8_t chroma_u(const uint8_t *c)
{
    return (uint8_t)(((-38 * c[0] - 74 * c[1] + 112 * c[2] + 128) >> 8) + 128);
}
static uint8_t chroma_v(const uint8_t *c)
{
    return (uint8_t)(((112 * c[0] - 94 * c[1] - 18 * c[2] + 128) >> 8) + 128);
}

int pk_pattern_format(pk_format *fmt)
{
    if (fmt->width == 0 || fmt->height == 0 || pk_format_bpp(fmt->pixfmt) == 0 ||
        (fmt->pixfmt == PK_PIXFMT_YUYV && (fmt->width & 1u) != 0)) {
        return PK_HAL_ERR_FORMAT;
    }
    fmt->pitch = (uint32_t)pk_format_row_bytes(fmt);
    return PK_HAL_OK;
}

void pk_pattern_row(const pk_format *fmt, uint32_t frame_no, uint32_t y, uint8_t *dst)
{
    const uint32_t w = fmt->width;
    const uint32_t shift = frame_no % w;
    size_t o = 0;

    (void)y; /* vertical bars: every row of a frame is the same */
    for (uint32_t x = 0; x < w; x++) {
        const uint8_t *c = bar_rgb[((x + shift) % w) * 8u / w];
        switch (fmt->pixfmt) {
        case PK_PIXFMT_GRAY8:
            dst[o++] = (uint8_t)((77u * c[0] + 150u * c[1] + 29u * c[2] + 128u) >> 8);
            break;
        case PK_PIXFMT_RGB888:
            dst[o++] = c[0];
            dst[o++] = c[1];
            dst[o++] = c[2];
            break;
        case PK_PIXFMT_RGB565: {
            const uint32_t v = (uint32_t)(c[0] >> 3) << 11 | (uint32_t)(c[1] >> 2) << 5 |
                               (uint32_t)(c[2] >> 3);
            dst[o++] = (uint8_t)v;
            dst[o++] = (uint8_t)(v >> 8);
            break;
        }
        default: /* YUYV: Y, then U for even pixels and V for odd ones */
            dst[o++] = luma(c);
            dst[o++] = (x & 1u) == 0 ? chroma_u(c) : chroma_v(c);
            break;
        }
    }
}
