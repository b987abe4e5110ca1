/* General int8 convolution with a packed filter for Cortex-M4/M7 (DSP extension): the
 * receptive fields of six output pixels are widened to int16 (straight from the input
 * rows when a window row is whole words and lies inside the image; else gathered first,
 * padded taps taking the input zero point) and multiplied by every filter row by
 * pk_dsp_mm6. Output pixels
 * in row order, each block of six read completely before it is written: the row-streaming
 * contract of pk_conv2d_s8_ref. A last block of fewer than six repeats its last pixel and
 * writes to scratch. */
#include <string.h>

#include "pk_engine_packed.h"

#if defined(__ARM_FEATURE_DSP)
#include "pk_dsp_mm6.h"

/* The receptive field of output pixel (iy0, ix0 its window corner), Format [KH, KW, IC],
 * into col; padded taps take the input zero point. */
static void gather(const pk_conv_params *p, const pk_dims *in_dims, const int8_t *in,
                   int32_t kh, int32_t kw, int32_t iy0, int32_t ix0, int8_t *col)
{
    const int32_t ih = in_dims->h, iw = in_dims->w, ic = in_dims->c;
    const int8_t zp = (int8_t)p->input_zero_point;
    for (int32_t ky = 0; ky < kh; ky++) {
        const int32_t iy = iy0 + ky * p->dilation_h;
        for (int32_t kx = 0; kx < kw; kx++, col += ic) {
            const int32_t ix = ix0 + kx * p->dilation_w;
            if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) {
                memset(col, zp, (size_t)ic);
            } else {
                memcpy(col, in + (iy * iw + ix) * ic, (size_t)ic);
            }
        }
    }
}

/* kh runs of n bytes (run r at src + r * step) one after the other into col, a word at a
 * time: each run reads up to 3 bytes past its end and writes up to 3 past it (the next
 * run, or col's spare word, takes them). */
static inline void gather_runs(const int8_t *src, int32_t step, int32_t kh, int32_t n,
                               int8_t *col)
{
    const int32_t words = (n + 3) >> 2, back = 4 * words - n;
    for (int32_t r = 0; r < kh; r++, src += step) {
        const int8_t *s = src;
        int32_t w = words;
        uint32_t v;
        __asm__ volatile("1:\n\t"
                         "ldr    %[v], [%[s]], #4\n\t"
                         "str    %[v], [%[d]], #4\n\t"
                         "subs   %[w], %[w], #1\n\t"
                         "bne    1b\n\t"
                         : [v] "=&r"(v), [s] "+r"(s), [d] "+r"(col), [w] "+r"(w)
                         :
                         : "cc", "memory");
        col -= back;
    }
}

static inline void put_group(uint32_t *xp, uint32_t v)
{
    xp[0] = __sxtb16(v);
    xp[1] = pk_sxtb16_ror8(v);
}

/* First layers (3x3 windows of 1 or 3 channels: rows of 3 or 9 bytes, which straddle
 * words): the dense groups of four composed from the three window rows a, b, c with
 * unaligned loads and a byte or halfword inserted, widened into one pixel's column. Reads
 * one byte before b and up to 3 past c's row: the caller checks both lie in the input. */
static inline void widen_3x3_c3(const int8_t *a, const int8_t *b, const int8_t *c,
                                uint32_t *xp)
{
    put_group(xp, pk_read32(a));
    put_group(xp + 12, pk_read32(a + 4));
    put_group(xp + 24, (pk_read32(b - 1) & ~0xFFu) | (uint8_t)a[8]);
    put_group(xp + 36, pk_read32(b + 3));
    put_group(xp + 48, (pk_read32(b + 7) & 0xFFFFu) | (pk_read32(c) << 16));
    put_group(xp + 60, pk_read32(c + 2));
    put_group(xp + 72, pk_read32(c + 6)); /* its last byte has a zero weight */
}

static inline void widen_3x3_c1(const int8_t *a, const int8_t *b, const int8_t *c,
                                uint32_t *xp)
{
    put_group(xp, (pk_read32(a) & 0xFFFFFFu) | ((uint32_t)(uint8_t)b[0] << 24));
    put_group(xp + 12, (pk_read32(b + 1) & 0xFFFFu) | (pk_read32(c) << 16));
    put_group(xp + 24, pk_read32(c + 2)); /* its last 3 bytes have zero weights */
}

/* Widen `segs` runs of `words` words each (run r at src + r * step) into one pixel's column
 * of x16 (xp = x16 + 2p). */
static inline void widen(const int8_t *src, int32_t step, int32_t segs, int32_t words,
                         uint32_t *xp)
{
    for (int32_t r = 0; r < segs; r++, src += step) {
        xp = pk_dsp_widen_run(src, words, xp);
    }
}

pk_status pk_conv2d_s8_packed_dsp(const pk_ctx *ctx, const pk_conv_params *p, const pk_quant *q,
                                  const pk_dims *in_dims, const int8_t *in,
                                  const pk_dims *filter_dims, const int8_t *filter,
                                  const int32_t *bias, const pk_dims *out_dims, int8_t *out)
{
    (void)bias;
    if (!ctx || !p || !q || !in_dims || !in || !filter_dims || !filter || !out_dims || !out) {
        return PK_ERR_ARG;
    }
    const int32_t kh = filter_dims->h, kw = filter_dims->w, ic = in_dims->c;
    const int32_t ih = in_dims->h, iw = in_dims->w;
    const int32_t oc = out_dims->c, ow = out_dims->w, pixels = out_dims->h * ow;
    if (ctx->size < PK_CONV2D_PACKED_SCRATCH_BYTES(kh, kw, ic, oc)) {
        return PK_ERR_ARG;
    }
    const int32_t n = kw * ic, k = PK_PACKED_K_CONV(kh, kw, ic);
    const int32_t step = p->dilation_h * iw * ic;
    /* rows of whole words: widened straight from the input; 3x3 windows of 1 or 3 channels
     * (first layers) composed word by word from the rows; else gathered first */
    const int aligned = (n & 3) == 0;
    const int first_layer = kh == 3 && kw == 3 && p->dilation_h == 1 && (ic == 1 || ic == 3);
    uint32_t *x16 = (uint32_t *)ctx->buf;       /* 12 * k bytes */
    int8_t *col = (int8_t *)ctx->buf + 12 * k;  /* k + 4 bytes */
    int8_t *tail_out = col + k + 4;             /* 6 * oc bytes */
    const int8_t *const in_end = in + ih * iw * ic;
    pk_dsp_mm6_args a = pk_dsp_mm6_make(filter, x16, k, oc);
    /* The output columns whose window lies inside the input in width, [ox_lo, ox_hi). */
    const int32_t sw = p->stride_w;
    int32_t ox_lo = 0, ox_hi = 0;
    if (p->dilation_w == 1 && iw - kw + p->pad_left >= 0) {
        ox_lo = (p->pad_left + sw - 1) / sw;
        ox_hi = (iw - kw + p->pad_left) / sw + 1;
        ox_hi = ox_hi < ow ? ox_hi : ow;
    }
    int32_t oy = 0, ox = 0, rows_inside = 0;
    int32_t iy0 = -p->pad_top, ix0 = -p->pad_left;
    const int8_t *src = in;
    for (int32_t first = 0; first < pixels; first += 6) {
        const int32_t np = pixels - first < 6 ? pixels - first : 6;
        for (int32_t i = 0; i < 6; i++) {
            if (i < np) {
                if (ox == 0) { /* a new output row */
                    iy0 = oy * p->stride_h - p->pad_top;
                    ix0 = -p->pad_left;
                    rows_inside = iy0 >= 0 && iy0 + (kh - 1) * p->dilation_h < ih;
                    src = in + (iy0 * iw + ix0) * ic;
                }
                const int inside = rows_inside && ox >= ox_lo && ox < ox_hi;
                /* the composed loads read 1 byte before row b and 3 past row c */
                if (inside && first_layer && src + 2 * step + 12 <= in_end) {
                    if (ic == 3) {
                        widen_3x3_c3(src, src + step, src + 2 * step, x16 + 2 * i);
                    } else {
                        widen_3x3_c1(src, src + step, src + 2 * step, x16 + 2 * i);
                    }
                } else if (inside && aligned) {
                    widen(src, step, kh, n / 4, x16 + 2 * i);
                } else {
                    if (inside && src + (kh - 1) * step + PK_ALIGN4(n) <= in_end) {
                        gather_runs(src, step, kh, n, col);
                    } else {
                        gather(p, in_dims, in, kh, kw, iy0, ix0, col);
                    }
                    /* the bytes of col past k are whatever: their weights are zero */
                    widen(col, 0, 1, k / 4, x16 + 2 * i);
                }
                src += sw * ic;
                ix0 += sw;
                if (++ox == ow) {
                    ox = 0;
                    oy++;
                }
            } else { /* a partial last block: repeat the last pixel's column */
                for (int32_t g = 0; g < k / 4; g++) {
                    memcpy(x16 + 12 * g + 2 * i, x16 + 12 * g + 2 * (np - 1), 8);
                }
            }
        }
        a.out = np == 6 ? out + first * oc : tail_out;
        a.out_end = a.out + oc;
        pk_dsp_mm6(&a);
        if (np < 6) {
            memcpy(out + first * oc, tail_out, (size_t)(np * oc));
        }
        pk_dsp_clamp(out + first * oc, oc, np, oc, p);
    }
    return PK_OK;
}

#else
typedef int pk_conv2d_s8_packed_dsp_needs_dsp; /* ISO C wants a declaration */
#endif
