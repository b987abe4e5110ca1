/*
 * Production camera for boards without a sensor (the emulator): a software pattern
 * generator in the spirit of Zephyr's video_sw_generator. Eight vertical colour bars
 * that move one pixel left per frame, at whatever size and format the app asks for
 * (GRAY8, RGB888, RGB565, YUYV). It is deterministic and has no input path: nothing
 * outside the image decides pixels.
 */
#include "pk_hal.h"

/* White, yellow, cyan, green, magenta, red, blue, black (R, G, B). */
static const uint8_t bar_rgb[8][3] = {
    {255, 255, 255}, {255, 255, 0}, {0, 255, 255}, {0, 255, 0},
    {255, 0, 255},   {255, 0, 0},   {0, 0, 255},   {0, 0, 0},
};

static uint32_t frame_no;

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

int pk_hal_camera_capture(uint8_t *fb, size_t capacity, pk_format *fmt)
{
    const uint32_t w = fmt->width;
    const uint32_t h = fmt->height;
    const uint32_t shift = w == 0 ? 0 : frame_no % w;
    size_t o = 0;

    if (w == 0 || h == 0 || pk_format_bpp(fmt->pixfmt) == 0 ||
        (fmt->pixfmt == PK_PIXFMT_YUYV && (w & 1u) != 0)) {
        return PK_HAL_ERR_FORMAT;
    }
    if (pk_format_frame_bytes(fmt) > capacity) {
        return PK_HAL_ERR_CAPACITY;
    }
    for (uint32_t y = 0; y < h; y++) {
        for (uint32_t x = 0; x < w; x++) {
            const uint8_t *c = bar_rgb[((x + shift) % w) * 8u / w];
            switch (fmt->pixfmt) {
            case PK_PIXFMT_GRAY8:
                fb[o++] = (uint8_t)((77u * c[0] + 150u * c[1] + 29u * c[2] + 128u) >> 8);
                break;
            case PK_PIXFMT_RGB888:
                fb[o++] = c[0];
                fb[o++] = c[1];
                fb[o++] = c[2];
                break;
            case PK_PIXFMT_RGB565: {
                const uint32_t v = (uint32_t)(c[0] >> 3) << 11 | (uint32_t)(c[1] >> 2) << 5 |
                                   (uint32_t)(c[2] >> 3);
                fb[o++] = (uint8_t)v;
                fb[o++] = (uint8_t)(v >> 8);
                break;
            }
            default: /* YUYV: Y, then U for even pixels and V for odd ones */
                fb[o++] = luma(c);
                fb[o++] = (x & 1u) == 0 ? chroma_u(c) : chroma_v(c);
                break;
            }
        }
    }
    frame_no++;
    return PK_HAL_OK;
}
