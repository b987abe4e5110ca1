/* General int8 convolution with a packed filter for Cortex-M4/M7 (DSP extension): the
 * receptive fields of six output pixels are widened to int16 (straight from the input
 * rows inside the image, gathered first at the border, where padded taps take the input
 * zero point) and multiplied by every filter row by pk_dsp_mm6. Output pixels
 * in row order, each block of six read completely before it is written: the row-streaming
 * contract of pk_conv2d_s8_ref. A last block of fewer than six repeats its last pixel and
 * writes to scratch. */
#include <string.h>

#include "pk_engine_packed.h"

#if defined(__ARM_FEATURE_DSP)
#include "pk_dsp_mm6.h"

/* The receptive field of a border output pixel (some taps padded, or dilated columns),
 * Format [KH, KW * IC padded to n4], into col; padded taps take the input zero point, the
 * bytes past each row of KW * IC anything (their weights are zero). */
static void gather(const pk_conv_params *p, const pk_dims *in_dims, const int8_t *in,
                   int32_t kh, int32_t kw, int32_t n4, int32_t iy0, int32_t ix0, int8_t *col)
{
    const int32_t ih = in_dims->h, iw = in_dims->w, ic = in_dims->c;
    const int8_t zp = (int8_t)p->input_zero_point;
    for (int32_t ky = 0; ky < kh; ky++, col += n4) {
        const int32_t iy = iy0 + ky * p->dilation_h;
        for (int32_t kx = 0; kx < kw; kx++) {
            const int32_t ix = ix0 + kx * p->dilation_w;
            if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) {
                memset(col + kx * ic, zp, (size_t)ic);
            } else {
                memcpy(col + kx * ic, in + (iy * iw + ix) * ic, (size_t)ic);
            }
        }
    }
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
    const int32_t n4 = PK_ALIGN4(kw * ic), k = kh * n4, words = n4 / 4;
    const int32_t step = p->dilation_h * iw * ic;
    uint32_t *x16 = (uint32_t *)ctx->buf;       /* 12 * k bytes */
    int8_t *col = (int8_t *)ctx->buf + 12 * k;  /* k bytes */
    int8_t *tail_out = col + k;                 /* 6 * oc bytes */
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
        const int32_t n = pixels - first < 6 ? pixels - first : 6;
        for (int32_t i = 0; i < 6; i++) {
            if (i < n) {
                if (ox == 0) { /* a new output row */
                    iy0 = oy * p->stride_h - p->pad_top;
                    ix0 = -p->pad_left;
                    rows_inside = iy0 >= 0 && iy0 + (kh - 1) * p->dilation_h < ih;
                    src = in + (iy0 * iw + ix0) * ic;
                }
                /* inside (reading up to 3 bytes past a run, but not past the input): widen
                 * straight from the input rows; else gather first */
                if (rows_inside && ox >= ox_lo && ox < ox_hi &&
                    src + (kh - 1) * step + n4 <= in_end) {
                    widen(src, step, kh, words, x16 + 2 * i);
                } else {
                    gather(p, in_dims, in, kh, kw, n4, iy0, ix0, col);
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
                    memcpy(x16 + 12 * g + 2 * i, x16 + 12 * g + 2 * (n - 1), 8);
                }
            }
        }
        a.out = n == 6 ? out + first * oc : tail_out;
        a.out_end = a.out + oc;
        pk_dsp_mm6(&a);
        if (n < 6) {
            memcpy(out + first * oc, tail_out, (size_t)(n * oc));
        }
        pk_dsp_clamp(out + first * oc, oc, n, oc, p);
    }
    return PK_OK;
}

#else
typedef int pk_conv2d_s8_packed_dsp_needs_dsp; /* ISO C wants a declaration */
#endif
