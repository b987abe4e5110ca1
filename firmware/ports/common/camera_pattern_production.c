/*
 * Production camera for boards without a sensor (the emulator): a software pattern
 * generator in the spirit of Zephyr's video_sw_generator. Eight vertical colour bars
 * that move one pixel left per frame, at whatever size and format the app asks for.
 * It is deterministic and has no input path: nothing outside the image decides pixels.
 */
#include "pk_hal.h"

/* White, yellow, cyan, green, magenta, red, blue, black (R, G, B). */
static const uint8_t bar_rgb[8][3] = {
    {255, 255, 255}, {255, 255, 0}, {0, 255, 255}, {0, 255, 0},
    {255, 0, 255},   {255, 0, 0},   {0, 0, 255},   {0, 0, 0},
};

static uint32_t frame_no;

int pk_hal_camera_capture(uint8_t *fb, size_t capacity, pk_format *fmt)
{
    const uint32_t w = fmt->width;
    const uint32_t h = fmt->height;
    const size_t bpp = pk_format_bpp(fmt->pixfmt);
    const uint32_t shift = w == 0 ? 0 : frame_no % w;
    size_t o = 0;

    if (w == 0 || h == 0 || bpp == 0) {
        return PK_HAL_ERR_FORMAT;
    }
    if (pk_format_frame_bytes(fmt) > capacity) {
        return PK_HAL_ERR_CAPACITY;
    }
    for (uint32_t y = 0; y < h; y++) {
        for (uint32_t x = 0; x < w; x++) {
            const uint8_t *c = bar_rgb[((x + shift) % w) * 8u / w];
            if (bpp == 1) {
                /* BT.601 luma, integer weights summing to 256. */
                fb[o++] = (uint8_t)((77u * c[0] + 150u * c[1] + 29u * c[2]) >> 8);
            } else {
                fb[o++] = c[0];
                fb[o++] = c[1];
                fb[o++] = c[2];
            }
        }
    }
    frame_no++;
    return PK_HAL_OK;
}
