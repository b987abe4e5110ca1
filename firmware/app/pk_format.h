/*
 * Image format shared by the camera HAL and preprocessing (after Zephyr's
 * struct video_format: pixel format plus geometry, tightly packed rows).
 */
#ifndef PK_FORMAT_H
#define PK_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* Pixel formats; the codes are the frame bank's `format` field (docs/PROTOCOL.md). */
enum {
    PK_PIXFMT_GRAY8 = 0,  /* 1 byte per pixel */
    PK_PIXFMT_RGB888 = 1, /* 3 bytes per pixel, R G B */
};

/* One frame's layout: uint8 pixels, row-major, HWC, no row padding. */
typedef struct {
    uint16_t width;  /* pixels, >= 1 */
    uint16_t height; /* pixels, >= 1 */
    uint8_t pixfmt;  /* PK_PIXFMT_* */
} pk_format;

/* Bytes per pixel of `pixfmt`, or 0 for an unknown format. */
static inline size_t pk_format_bpp(uint8_t pixfmt)
{
    return pixfmt == PK_PIXFMT_GRAY8 ? 1u : pixfmt == PK_PIXFMT_RGB888 ? 3u : 0u;
}

/* Bytes in one frame of `f` (0 for an unknown pixel format). */
static inline size_t pk_format_frame_bytes(const pk_format *f)
{
    return (size_t)f->width * f->height * pk_format_bpp(f->pixfmt);
}

#endif /* PK_FORMAT_H */
