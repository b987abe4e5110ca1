/*
 * Device preprocessing, streaming: centre crop, colour conversion, box-average resize,
 * int8 offset, one camera row at a time. Every formula here is written out in
 * docs/PROTOCOL.md ("Preprocessing") and mirrored by training/camera_preprocess.py.
 *
 * The box of model input row oy covers camera rows [sy0, sy1). Downscaling, the boxes
 * of consecutive output rows tile the crop; upscaling, every box is one row and
 * consecutive output rows share it or move to the next. So one set of per-output-row
 * sums (acc) is enough: it is refilled when the box moves and reused when it does not,
 * and every camera row is read once, in order.
 *
 * Constant time: branches and loop bounds depend on the geometry only; the one clamp on
 * pixel values (YUYV) is arithmetic.
 */
#include "pk_preprocess.h"

/* max(v, 0) >> 8, then min(., 255), without a branch. v is at most 2^17 in magnitude. */
static inline uint32_t clamp_shift8(int32_t v)
{
    const uint32_t keep = ((uint32_t)v >> 31) - 1u; /* all ones if v >= 0, else 0 */
    const uint32_t u = ((uint32_t)v & keep) >> 8;
    const uint32_t over = (255u - u) >> 31;         /* 1 if u > 255 (u < 2^24) */
    return (u | (0u - over)) & 0xFFu;
}

/* Source pixel x of one camera row as R, G, B. pixfmt is a constant after inlining. */
static inline __attribute__((always_inline)) void load_rgb(const uint8_t *row, uint32_t x,
                                                           uint8_t pixfmt, uint32_t rgb[3])
{
    switch (pixfmt) {
    case PK_PIXFMT_GRAY8:
        rgb[0] = rgb[1] = rgb[2] = row[x];
        break;
    case PK_PIXFMT_RGB888:
        rgb[0] = row[3u * x];
        rgb[1] = row[3u * x + 1u];
        rgb[2] = row[3u * x + 2u];
        break;
    case PK_PIXFMT_RGB565: {
        /* Little-endian RRRRRGGG GGGBBBBB; widen by replicating the top bits. */
        const uint32_t v = (uint32_t)row[2u * x] | (uint32_t)row[2u * x + 1u] << 8;
        const uint32_t r5 = v >> 11, g6 = (v >> 5) & 0x3Fu, b5 = v & 0x1Fu;
        rgb[0] = r5 << 3 | r5 >> 2;
        rgb[1] = g6 << 2 | g6 >> 4;
        rgb[2] = b5 << 3 | b5 >> 2;
        break;
    }
    default: { /* PK_PIXFMT_YUYV: Y0 U Y1 V; pixel x has Y at 2x, its pair's U and V */
        const uint8_t *pair = &row[4u * (x >> 1)];
        const int32_t c = (int32_t)row[2u * x] - 16;
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

/* Source columns [*lo, *hi) of output column (or row) o: step 3's box, at least 1 wide. */
static inline void box(uint32_t start, uint32_t size, uint32_t out, uint32_t o, uint32_t *lo,
                       uint32_t *hi)
{
    const uint32_t a = start + o * size / out;
    const uint32_t b = start + (o + 1u) * size / out;

    *lo = a;
    *hi = b > a ? b : a + 1u;
}

/* Add one camera row's pixels to the sums of every output column. */
static inline __attribute__((always_inline)) void add_row_as(const pk_pre_stream *s,
                                                             const uint8_t *row,
                                                             uint8_t pixfmt)
{
    uint32_t *acc = s->io.acc;

    for (uint32_t ox = 0; ox < s->out_w; ox++) {
        uint32_t sx0, sx1, sum0 = 0, sum1 = 0, sum2 = 0;
        box(s->x0, s->cw, s->out_w, ox, &sx0, &sx1);
        for (uint32_t x = sx0; x < sx1; x++) {
            uint32_t rgb[3];
            load_rgb(row, x, pixfmt, rgb);
            if (s->out_c == 1) {
                sum0 += pixfmt == PK_PIXFMT_GRAY8
                            ? rgb[0] /* (256 g + 128) >> 8 == g */
                            : (77u * rgb[0] + 150u * rgb[1] + 29u * rgb[2] + 128u) >> 8;
            } else {
                sum0 += rgb[0];
                sum1 += rgb[1];
                sum2 += rgb[2];
            }
        }
        if (s->out_c == 1) {
            acc[ox] += sum0;
        } else {
            acc[3u * ox] += sum0;
            acc[3u * ox + 1u] += sum1;
            acc[3u * ox + 2u] += sum2;
        }
    }
}

/* add_row_as with the format's switch resolved outside the pixel loops. */
static void add_row(const pk_pre_stream *s, const uint8_t *row)
{
    switch (s->fmt.pixfmt) {
    case PK_PIXFMT_GRAY8:
        add_row_as(s, row, PK_PIXFMT_GRAY8);
        break;
    case PK_PIXFMT_RGB888:
        add_row_as(s, row, PK_PIXFMT_RGB888);
        break;
    case PK_PIXFMT_RGB565:
        add_row_as(s, row, PK_PIXFMT_RGB565);
        break;
    default:
        add_row_as(s, row, PK_PIXFMT_YUYV);
        break;
    }
}

/* The next camera row into the line buffer; false (status kept) if the source failed. */
static int read_row(pk_pre_stream *s)
{
    const int rc = s->io.source(s->io.source_ctx, s->io.line, s->io.line_bytes, 1u);

    if (rc != 0) {
        s->source_status = rc;
        return 0;
    }
    s->rows_read++;
    return 1;
}

int pk_pre_begin(pk_pre_stream *s, const pk_format *fmt, uint16_t out_h, uint16_t out_w,
                 uint8_t out_c, const pk_pre_io *io)
{
    const uint32_t fw = fmt->width, fh = fmt->height;
    uint32_t cw, ch;

    if (fw == 0 || fh == 0 || pk_format_bpp(fmt->pixfmt) == 0 ||
        fw * fh > PK_PRE_MAX_PIXELS || (fmt->pixfmt == PK_PIXFMT_YUYV && (fw & 1u) != 0) ||
        fmt->pitch != pk_format_row_bytes(fmt) || out_h == 0 || out_w == 0 ||
        (out_c != 1 && out_c != 3)) {
        return PK_PRE_ERR_SHAPE;
    }
    if (io->acc_len < (size_t)out_w * out_c) {
        return PK_PRE_ERR_SIZE;
    }
    if (io->line_bytes < fmt->pitch) {
        return PK_PRE_ERR_LINE;
    }

    /* 1. The largest centred crop with the model's aspect ratio (floor, at least 1). */
    if ((uint64_t)fw * out_h >= (uint64_t)fh * out_w) {
        ch = fh;
        cw = (uint32_t)((uint64_t)fh * out_w / out_h);
    } else {
        cw = fw;
        ch = (uint32_t)((uint64_t)fw * out_h / out_w);
    }
    s->cw = cw == 0 ? 1u : cw;
    s->ch = ch == 0 ? 1u : ch;
    s->x0 = (fw - s->cw) / 2u;
    s->y0 = (fh - s->ch) / 2u;

    /* Step 3's boxes are floor(size / out) or one more wide (always 1 when upscaling), so
     * four reciprocals serve every box. The mean (S + n/2) / n is then
     * ((S + n/2) * ceil(2^40 / n)) >> 40, exact because S + n/2 < 256 n and
     * 256 n^2 <= 2^40; no UDIV, whose cycle count depends on its operands on Cortex-M. */
    s->box_h_min = s->ch / out_h > 0 ? s->ch / out_h : 1u;
    s->box_w_min = s->cw / out_w > 0 ? s->cw / out_w : 1u;
    if ((uint64_t)(s->box_h_min + 1u) * (s->box_w_min + 1u) > PK_PRE_MAX_BOX_PIXELS) {
        return PK_PRE_ERR_SHAPE;
    }
    for (uint32_t i = 0; i < 2u; i++) {
        for (uint32_t j = 0; j < 2u; j++) {
            const uint64_t n = (uint64_t)(s->box_h_min + i) * (s->box_w_min + j);
            s->recip[i][j] = ((1ull << 40) + n - 1u) / n;
        }
    }
    s->fmt = *fmt;
    s->out_h = out_h;
    s->out_w = out_w;
    s->out_c = out_c;
    s->rows_read = 0;
    s->acc_lo = s->acc_hi = 0; /* empty: no row summed yet */
    s->rows_out = 0;
    s->source_status = 0;
    s->io = *io;
    return PK_PRE_OK;
}

int pk_pre_rows(pk_pre_stream *s, uint16_t row0, uint16_t nrows, int8_t *dst)
{
    const uint32_t row_len = (uint32_t)s->out_w * s->out_c;

    if (row0 != s->rows_out || nrows > s->out_h - row0) {
        return PK_PRE_ERR_ORDER;
    }
    for (uint32_t oy = row0; oy < (uint32_t)row0 + nrows; oy++) {
        uint32_t sy0, sy1;
        box(s->y0, s->ch, s->out_h, oy, &sy0, &sy1);

        /* 2-3. Sum the box's camera rows, unless acc already holds exactly them. */
        if (sy0 != s->acc_lo || sy1 != s->acc_hi) {
            for (uint32_t i = 0; i < row_len; i++) {
                s->io.acc[i] = 0;
            }
            while (s->rows_read < sy0) { /* rows above the crop */
                if (!read_row(s)) {
                    return PK_PRE_ERR_SOURCE;
                }
            }
            for (uint32_t y = sy0; y < sy1; y++) {
                if (!read_row(s)) {
                    return PK_PRE_ERR_SOURCE;
                }
                add_row(s, s->io.line);
            }
            s->acc_lo = sy0;
            s->acc_hi = sy1;
        }

        /* 3-4. Rounded mean of each box, then -128. */
        for (uint32_t ox = 0; ox < s->out_w; ox++) {
            uint32_t sx0, sx1;
            box(s->x0, s->cw, s->out_w, ox, &sx0, &sx1);
            const uint32_t n = (sy1 - sy0) * (sx1 - sx0);
            const uint64_t recip = s->recip[sy1 - sy0 - s->box_h_min][sx1 - sx0 - s->box_w_min];
            for (uint32_t k = 0; k < s->out_c; k++) {
                const uint64_t sum = (uint64_t)s->io.acc[ox * s->out_c + k] + n / 2u;
                const uint32_t mean = (uint32_t)((sum * recip) >> 40);
                *dst++ = (int8_t)(mean ^ 0x80u); /* mean - 128 in two's complement */
            }
        }
        s->rows_out++;
    }
    return PK_PRE_OK;
}

int pk_pre_finish(pk_pre_stream *s)
{
    while (s->rows_read < s->fmt.height) { /* rows below the crop */
        if (!read_row(s)) {
            return PK_PRE_ERR_SOURCE;
        }
    }
    return s->rows_out == s->out_h ? PK_PRE_OK : PK_PRE_ERR_ORDER;
}
