/*
 * Image format shared by the camera HAL and preprocessing (after Zephyr's
 * struct video_format: pixel format, geometry and the pitch of the rows as delivered).
 */
#ifndef PK_FORMAT_H
#define PK_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* Pixel formats; the codes are the frame bank's `format` field (docs/PROTOCOL.md). */
enum {
    PK_PIXFMT_GRAY8 = 0,  /* 1 byte per pixel */
    PK_PIXFMT_RGB888 = 1, /* 3 bytes per pixel, R G B */
    PK_PIXFMT_RGB565 = 2, /* 2 bytes per pixel, little-endian u16 RRRRRGGG GGGBBBBB */
    PK_PIXFMT_YUYV = 3,   /* YUV 4:2:2, 2 bytes per pixel: Y0 U Y1 V per pixel pair */
};

/* One frame's layout: row-major (YUYV: width even). */
typedef struct {
    uint16_t width;  /* pixels, >= 1 */
    uint16_t height; /* pixels (rows), >= 1 */
    uint8_t pixfmt;  /* PK_PIXFMT_* */
    uint32_t pitch;  /* bytes per row as the camera HAL delivers it: width * bytes per
                      * pixel (rows are tightly packed in the caller's line buffer) */
} pk_format;

/* Bytes per pixel of `pixfmt`, or 0 for an unknown format. */
static inline size_t pk_format_bpp(uint8_t pixfmt)
{
    switch (pixfmt) {
    case PK_PIXFMT_GRAY8:
        return 1u;
    case PK_PIXFMT_RGB888:
        return 3u;
    case PK_PIXFMT_RGB565:
    case PK_PIXFMT_YUYV:
        return 2u;
    default:
        return 0u;
    }
}

/* Bytes in one row of `f`, tightly packed (0 for an unknown pixel format). */
static inline size_t pk_format_row_bytes(const pk_format *f)
{
    return (size_t)f->width * pk_format_bpp(f->pixfmt);
}

/* Bytes in one frame of `f` (0 for an unknown pixel format). */
static inline size_t pk_format_frame_bytes(const pk_format *f)
{
    return pk_format_row_bytes(f) * f->height;
}

#endif /* PK_FORMAT_H */
