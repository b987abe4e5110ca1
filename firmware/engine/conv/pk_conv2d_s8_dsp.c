/* General int8 convolution for Cortex-M4/M7 (DSP extension): two output pixels at a time
 * are gathered (im2col, padded taps take the input zero point), widened to int16 and
 * multiplied by the filter rows with SMLAD (pk_dsp.h). Output pixels are produced in row
 * order, so the kernel keeps pk_conv2d_s8_ref's row-streaming contract. */
#include "pk_engine.h"

#if defined(__ARM_FEATURE_DSP)
#include "pk_dsp.h"

/* The receptive field of output pixel (oy, ox), Format: [KH, KW, IC], into col. */
static void gather(const pk_conv_params *p, const pk_dims *in_dims, const int8_t *in,
                   int32_t kh, int32_t kw, int32_t oy, int32_t ox, int8_t *col)
{
    const int32_t ih = in_dims->h, iw = in_dims->w, ic = in_dims->c;
    const int8_t zp = (int8_t)p->input_zero_point;
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    for (int32_t ky = 0; ky < kh; ky++) {
        const int32_t iy = iy0 + ky * p->dilation_h;
        for (int32_t kx = 0; kx < kw; kx++, col += ic) {
            const int32_t ix = ix0 + kx * p->dilation_w;
            if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) {
                memset(col, zp, (size_t)ic);
            } else {
                const int8_t *src = in + (iy * iw + ix) * ic;
                for (int32_t i = 0; i < ic; i++) {
                    col[i] = src[i];
                }
            }
        }
    }
}

/* The receptive field of an output pixel whose window lies inside the input (dilation_w
 * 1): kh runs of n = KW * IC contiguous bytes, row_step bytes apart. */
static inline __attribute__((always_inline)) void gather_inside(const int8_t *src, int32_t n,
                                                                int32_t kh, int32_t row_step,
                                                                int8_t *col)
{
    for (int32_t ky = 0; ky < kh; ky++, src += row_step, col += n) {
        int32_t i = 0;
        for (; i + 4 <= n; i += 4) {
            const uint32_t v = pk_read32(src + i);
            memcpy(col + i, &v, 4);
        }
        for (; i < n; i++) {
            col[i] = src[i];
        }
    }
}

PK_DSP_MATMUL2_PICK

static void run(const pk_conv_params *p, const pk_dims *in_dims, const int8_t *in,
                const pk_dims *filter_dims, const int8_t *filter, const int32_t *bias,
                const pk_dims *out_dims, int8_t *out, int8_t *col, uint32_t *x16, pk_dsp_rq r)
{
    const pk_dsp_matmul2_fn mm = pick_matmul2(r.fast, r.full_range);
    const int32_t kh = filter_dims->h, kw = filter_dims->w;
    const int32_t k_len = kh * kw * in_dims->c, k4 = PK_ALIGN8(k_len);
    const int32_t ow = out_dims->w, oc = out_dims->c, pixels = out_dims->h * ow;
    const int32_t ih = in_dims->h, iw = in_dims->w, ic = in_dims->c;
    const int32_t n = kw * ic, row_step = p->dilation_h * iw * ic;
    const int32_t ekh = (kh - 1) * p->dilation_h;
    for (int32_t px = 0; px < pixels; px += 2) {
        const int32_t px1 = px + 1 < pixels ? px + 1 : px; /* an odd last pixel twice */
        for (int32_t k = 0; k < 2; k++) {
            const int32_t q = k ? px1 : px, oy = q / ow, ox = q % ow;
            const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
            int8_t *dst = col + k * k4;
            if (p->dilation_w == 1 && iy0 >= 0 && iy0 + ekh < ih && ix0 >= 0 && ix0 + kw <= iw) {
                gather_inside(in + (iy0 * iw + ix0) * ic, n, kh, row_step, dst);
            } else {
                gather(p, in_dims, in, kh, kw, oy, ox, dst);
            }
        }
        pk_dsp_widen2(col, col + k4, k_len, x16);
        mm(x16, filter, bias, k_len, oc, r, out + px * oc, out + px1 * oc);
    }
}

pk_status pk_conv2d_s8_dsp(const pk_ctx *ctx, const pk_conv_params *p, const pk_quant *q,
                           const pk_dims *in_dims, const int8_t *in, const pk_dims *filter_dims,
                           const int8_t *filter, const int32_t *bias, const pk_dims *out_dims,
                           int8_t *out)
{
    if (!ctx || !p || !q || !in_dims || !in || !filter_dims || !filter || !bias || !out_dims ||
        !out) {
        return PK_ERR_ARG;
    }
    const int32_t k8 = PK_ALIGN8(filter_dims->h * filter_dims->w * in_dims->c);
    const int32_t oc = out_dims->c;
    if (ctx->size < PK_CONV2D_SCRATCH_BYTES(filter_dims->h, filter_dims->w, in_dims->c, oc)) {
        return PK_ERR_ARG;
    }
    uint32_t *x16 = (uint32_t *)ctx->buf;                      /* 4 * k8 bytes */
    int8_t *col = (int8_t *)ctx->buf + 4 * k8;                 /* 2 * k8 bytes */
    int32_t *table = (int32_t *)((int8_t *)ctx->buf + 6 * k8); /* 8 * oc bytes */
    const int fast = pk_dsp_fast_table(q, p, oc, table);
    const int full = p->act_min == -128 && p->act_max == 127;
    run(p, in_dims, in, filter_dims, filter, bias, out_dims, out, col, x16,
        pk_dsp_rq_make(q, p, table, fast, full));
    return PK_OK;
}

#else
typedef int pk_conv2d_s8_dsp_needs_dsp; /* ISO C wants a declaration */
#endif
