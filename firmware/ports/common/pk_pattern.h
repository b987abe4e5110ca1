/*
 * The built-in test pattern of the software cameras (after Zephyr's video_sw_generator):
 * eight vertical colour bars that move one pixel left per frame, in any size and format
 * (GRAY8, RGB888, RGB565, YUYV), made one row at a time. Deterministic; nothing outside
 * the image decides its pixels. Used by the host port's production camera and as the
 * emulated sensor's picture when the host offers no frame (ports/qemu_mps2).
 */
#ifndef PK_PATTERN_H
#define PK_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#include "pk_format.h"

/*
 * Check *fmt (width, height, pixfmt) and set its pitch. Returns PK_HAL_OK, or
 * PK_HAL_ERR_FORMAT for a zero size, an unknown format or an odd YUYV width.
 */
int pk_pattern_format(pk_format *fmt);

/* Row y of pattern frame number frame_no into dst (fmt->pitch bytes). */
void pk_pattern_row(const pk_format *fmt, uint32_t frame_no, uint32_t y, uint8_t *dst);

#endif /* PK_PATTERN_H */
