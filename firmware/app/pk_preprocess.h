/*
 * Camera frame -> model input tensor (docs/PROTOCOL.md, "Preprocessing"). The Python
 * twin is training/camera_preprocess.py; tests/test_preprocess_parity.py checks that the
 * two give the same bytes for every format on random frames.
 */
#ifndef PK_PREPROCESS_H
#define PK_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "pk_format.h"

enum {
    PK_PRE_OK = 0,
    PK_PRE_ERR_SHAPE = -1, /* bad frame geometry/format or model shape (see below) */
    PK_PRE_ERR_SIZE = -2,  /* output buffer size differs from out_h * out_w * out_c */
};

/* Largest frame accepted, in pixels: keeps every 32-bit box sum from overflowing. */
#define PK_PRE_MAX_PIXELS (1u << 24)

/*
 * Convert one camera frame to the model's int8 input, in four exactly specified integer
 * steps (the specification is docs/PROTOCOL.md, "Preprocessing"):
 *   1. centre crop to the model's aspect ratio,
 *   2. each source pixel to R, G, B (RGB565 by bit replication, YUYV by BT.601 integer
 *      formulas), and to gray (77 R + 150 G + 29 B + 128) >> 8 for a 1-channel model,
 *   3. resize by box averaging: output pixel (ox, oy) is the rounded mean of the source
 *      box [x0 + ox*cw/W', x0 + (ox+1)*cw/W') x [...] (at least one pixel wide),
 *   4. int8 = value - 128.
 * frame: in, pk_format_frame_bytes(fmt) bytes. fmt: width/height >= 1, at most
 * PK_PRE_MAX_PIXELS pixels, YUYV width even. out_h, out_w >= 1; out_c 1 (gray) or 3 (RGB).
 * out: out, [out_h, out_w, out_c] int8, HWC; out_len must be out_h * out_w * out_c.
 * Returns PK_PRE_OK, or a PK_PRE_ERR_* code in which case out is untouched.
 */
int pk_preprocess(const uint8_t *frame, const pk_format *fmt, uint16_t out_h, uint16_t out_w,
                  uint8_t out_c, int8_t *out, size_t out_len);

#endif /* PK_PREPROCESS_H */
