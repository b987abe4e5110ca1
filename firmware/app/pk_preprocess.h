/* Camera frame -> model input tensor (docs/PROTOCOL.md, "Model input"). */
#ifndef PK_PREPROCESS_H
#define PK_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "pk_format.h"

enum {
    PK_PRE_OK = 0,
    PK_PRE_ERR_SHAPE = -1,  /* frame height/width/channels differ from the model input */
    PK_PRE_ERR_SIZE = -2,   /* output buffer size differs from H*W*C */
};

/*
 * Convert a uint8 frame to the model's int8 input: out[i] = pixels[i] - 128
 * (scale 1/255, zero point -128). No resize or colour conversion in this version: the
 * frame must already be want_h x want_w with want_c channels (1 = GRAY8, 3 = RGB888).
 * pixels: in, HWC uint8, pk_format_frame_bytes(fmt) bytes. out: out, HWC int8, out_len
 * bytes (must equal want_h*want_w*want_c). Returns PK_PRE_OK or a PK_PRE_ERR_* code,
 * in which case out is untouched.
 */
int pk_preprocess(const uint8_t *pixels, const pk_format *fmt, uint16_t want_h,
                  uint16_t want_w, uint8_t want_c, int8_t *out, size_t out_len);

#endif /* PK_PREPROCESS_H */
