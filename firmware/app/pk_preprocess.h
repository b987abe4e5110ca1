/*
 * Camera rows -> model input rows (docs/PROTOCOL.md, "Preprocessing"), streaming: the
 * frame is read one camera row at a time into the caller's line buffer and each model
 * input row is produced as soon as its source rows have gone by, so neither the frame
 * nor the model input need exist in full. The Python twin is
 * training/camera_preprocess.py; tests/test_preprocess_parity.py checks that the two
 * give the same bytes for every format and geometry, feeding the C code row by row.
 *
 * Constant time: every branch and loop bound depends on the geometry only (frame size,
 * format, model shape), never on pixel values (the privacy audit counts instructions).
 */
#ifndef PK_PREPROCESS_H
#define PK_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "pk_format.h"

enum {
    PK_PRE_OK = 0,
    PK_PRE_ERR_SHAPE = -1,  /* bad frame geometry/format or model shape (see below) */
    PK_PRE_ERR_SIZE = -2,   /* accumulator smaller than out_w * out_c */
    PK_PRE_ERR_LINE = -3,   /* a camera row does not fit the line buffer */
    PK_PRE_ERR_ORDER = -4,  /* output rows asked for out of order, twice or past the end */
    PK_PRE_ERR_SOURCE = -5, /* the row source failed (its status is in source_status) */
};

/* Largest frame accepted, in pixels: keeps every 32-bit box sum from overflowing. */
#define PK_PRE_MAX_PIXELS (1u << 24)
/* Largest resize box (source pixels averaged into one output pixel): the rounded mean is
 * taken by an exact reciprocal that needs n <= 2^16 (see pk_preprocess.c). */
#define PK_PRE_MAX_BOX_PIXELS (1u << 16)

/*
 * Where camera rows come from, e.g. pk_hal_camera_read_rows() behind a context: copy the
 * frame's next nrows rows, tightly packed, into dst (capacity bytes). Returns 0, or a
 * negative status (kept in pk_pre_stream.source_status).
 */
typedef int (*pk_pre_source_fn)(void *ctx, uint8_t *dst, size_t capacity, uint16_t nrows);

/* The caller's buffers and row source; the caller owns (and wipes) the buffers. */
typedef struct {
    uint8_t *line;     /* one camera row: at least fmt->pitch bytes */
    size_t line_bytes;
    uint32_t *acc;     /* running box sums of one model input row: out_w * out_c */
    size_t acc_len;    /* entries in acc */
    pk_pre_source_fn source;
    void *source_ctx;
} pk_pre_io;

/* One frame in progress. Fields are private to pk_preprocess.c except source_status. */
typedef struct {
    pk_format fmt;
    uint16_t out_h, out_w;
    uint8_t out_c;
    uint32_t x0, y0, cw, ch; /* the centre crop */
    uint32_t box_h_min, box_w_min; /* every box is box_h_min or +1 rows, box_w_min or +1 wide */
    uint64_t recip[2][2];    /* ceil(2^40 / n) for n = (box_h_min + i) * (box_w_min + j) */
    uint32_t rows_read;      /* camera rows taken from the source so far */
    uint32_t acc_lo, acc_hi; /* acc holds the sums of camera rows [acc_lo, acc_hi) */
    uint16_t rows_out;       /* model input rows produced so far */
    int source_status;       /* the source's first error, 0 if none */
    pk_pre_io io;
} pk_pre_stream;

/*
 * Start converting one frame of *fmt to the model's int8 input [out_h, out_w, out_c],
 * in four exactly specified integer steps (docs/PROTOCOL.md, "Preprocessing"):
 *   1. centre crop to the model's aspect ratio,
 *   2. each source pixel to R, G, B (RGB565 by bit replication, YUYV by BT.601 integer
 *      formulas), and to gray (77 R + 150 G + 29 B + 128) >> 8 for a 1-channel model,
 *   3. resize by box averaging: output pixel (ox, oy) is the rounded mean of the source
 *      box [x0 + ox*cw/W', x0 + (ox+1)*cw/W') x [...] (at least one pixel wide),
 *   4. int8 = value - 128.
 * fmt: width/height >= 1, at most PK_PRE_MAX_PIXELS pixels (and resize boxes of at most
 * PK_PRE_MAX_BOX_PIXELS), YUYV width even, pitch =
 * width * bytes per pixel. out_h, out_w >= 1; out_c 1 (gray) or 3 (RGB).
 * Returns PK_PRE_OK, or PK_PRE_ERR_SHAPE / _SIZE / _LINE; reads no row.
 */
int pk_pre_begin(pk_pre_stream *s, const pk_format *fmt, uint16_t out_h, uint16_t out_w,
                 uint8_t out_c, const pk_pre_io *io);

/*
 * Produce model input rows [row0, row0 + nrows) into dst (nrows * out_w * out_c int8,
 * HWC), reading camera rows from the source as far as they are needed. Rows must be
 * asked for in increasing order, each once (row0 == the number produced so far).
 * Returns PK_PRE_OK, PK_PRE_ERR_ORDER or PK_PRE_ERR_SOURCE.
 */
int pk_pre_rows(pk_pre_stream *s, uint16_t row0, uint16_t nrows, int8_t *dst);

/*
 * After the last model input row: read the frame's remaining camera rows (below the
 * crop) from the source, so every row went through the line buffer and the camera is
 * drained. Returns PK_PRE_OK; PK_PRE_ERR_ORDER if not every output row was produced;
 * PK_PRE_ERR_SOURCE.
 */
int pk_pre_finish(pk_pre_stream *s);

#endif /* PK_PREPROCESS_H */
