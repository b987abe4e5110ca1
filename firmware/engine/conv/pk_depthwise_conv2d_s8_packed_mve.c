/* Depthwise int8 convolution with a packed filter (pk_engine_packed.h) for Cortex-M55
 * (Helium): depth multiplier 1, channels a multiple of 4, at most 16 taps (else the DSP
 * variant).
 *
 * For each output row the window rows are first copied into scratch with their padding
 * (columns and rows outside the input hold the input zero point), so every output pixel's
 * window lies inside. Then, per channel: its taps are gathered by two VLDRB.S16 with 16-bit
 * byte offsets (taps 0..7, 8..15) and summed against the channel's doubled int16 weights by
 * two VMLADAVA.S16; four pixels' sums are requantized as one vector (pk_requant_packed) and
 * stored by one scatter VSTRB.32. Outputs of a row are written after its window rows were
 * copied: the row-streaming contract. */
#include <stdint.h>

#include "pk_engine_packed.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include "pk_mve.h"

#define MAX_TAPS 16

/* n bytes from src to dst, 16 at a time. */
static void copy(int8_t *dst, const int8_t *src, int32_t n)
{
    for (int32_t i = 0; i < n; i += 16) {
        const mve_pred16_t pr = vctp8q((uint32_t)(n - i));
        vstrbq_p_s8(dst + i, vldrbq_z_s8(src + i, pr), pr);
    }
}

static void fill(int8_t *dst, int8_t v, int32_t n)
{
    const int8x16_t vv = vdupq_n_s8(v);
    for (int32_t i = 0; i < n; i += 16) {
        vstrbq_p_s8(dst + i, vv, vctp8q((uint32_t)(n - i)));
    }
}

pk_status pk_depthwise_conv2d_s8_packed_mve(const pk_ctx *ctx, const pk_conv_params *p,
                                            const pk_quant *q, const pk_dims *in_dims,
                                            const int8_t *in, const pk_dims *filter_dims,
                                            const int8_t *filter, const int32_t *bias,
                                            const pk_dims *out_dims, int8_t *out)
{
    if (!ctx || !p || !q || !in_dims || !in || !filter_dims || !filter || !out_dims || !out) {
        return PK_ERR_ARG;
    }
    const int32_t ch = in_dims->c, kh = filter_dims->h, kw = filter_dims->w, taps = kh * kw;
    const int32_t ih = in_dims->h, iw = in_dims->w, oh = out_dims->h, ow = out_dims->w;
    const int32_t sw = p->stride_w, dw = p->dilation_w, pl = p->pad_left;
    const int32_t cols = (ow - 1) * sw + (kw - 1) * dw + 1, rs = cols * ch; /* a padded row */
    if ((ch & 3) || out_dims->c != ch || p->depth_multiplier != 1 ||
        ctx->size < PK_DEPTHWISE_PACKED_SCRATCH_BYTES(kh, kw, sw, dw, ow, 4)) {
        return PK_ERR_ARG;
    }
#if defined(__ARM_FEATURE_DSP)
    if (taps > MAX_TAPS || ctx->size < kh * rs || kh * rs > 65535) {
        return pk_depthwise_conv2d_s8_packed_dsp(ctx, p, q, in_dims, in, filter_dims, filter,
                                                 bias, out_dims, out);
    }
#endif
    (void)bias;
    int8_t *rows = (int8_t *)ctx->buf; /* kh padded rows of cols * ch bytes */
    const int8_t zp = (int8_t)p->input_zero_point;
    /* the columns inside the input, [lo, hi) */
    const int32_t lo = pl < cols ? pl : cols;
    int32_t hi = iw + pl < cols ? iw + pl : cols;
    hi = hi > lo ? hi : lo;
    /* tap t's byte offset from a pixel's window corner; taps past the last read the corner
     * (their weights are zero) */
    uint16_t off[MAX_TAPS] = {0};
    for (int32_t ky = 0, t = 0; ky < kh; ky++) {
        for (int32_t kx = 0; kx < kw; kx++, t++) {
            off[t] = (uint16_t)(ky * rs + kx * dw * ch);
        }
    }
    const uint16x8_t off_a = vldrhq_u16(off), off_b = vldrhq_u16(off + 8);
    /* a doubled weight's byte offset in its group: lane j of channel c = 4g + j, tap t */
    uint16_t woff[MAX_TAPS] = {0};
    for (int32_t t = 0; t < taps; t++) {
        woff[t] = (uint16_t)(16 + 8 * t);
    }
    const uint16x8_t woff_a = vldrhq_u16(woff), woff_b = vldrhq_u16(woff + 8);
    const mve_pred16_t taps_a = vctp16q((uint32_t)taps);
    const mve_pred16_t taps_b = vctp16q((uint32_t)(taps > 8 ? taps - 8 : 0));
    const uint32x4_t out_off = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)ch);
    const int32x4_t lo_v = vdupq_n_s32(p->act_min), hi_v = vdupq_n_s32(p->act_max);
    const int32_t group_bytes = PK_DW_GROUP_BYTES(taps);
    for (int32_t oy = 0; oy < oh; oy++, out += ow * ch) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        for (int32_t ky = 0; ky < kh; ky++) {
            int8_t *row = rows + ky * rs;
            const int32_t iy = iy0 + ky * p->dilation_h;
            if (iy < 0 || iy >= ih) {
                fill(row, zp, rs);
                continue;
            }
            fill(row, zp, lo * ch);
            copy(row + lo * ch, in + (iy * iw + (lo - pl)) * ch, (hi - lo) * ch);
            fill(row + hi * ch, zp, (cols - hi) * ch);
        }
        for (int32_t c = 0; c < ch; c++) {
            const int8_t *grp = filter + (c >> 2) * group_bytes;
            /* lane j of the group: (c0, c2) in the first word of a tap, (c1, c3) in the
             * second, so channel j's halfword is at 2 * (2 * (j & 1) + (j >> 1)) */
            const int32_t j = c & 3, lane = 2 * (2 * (j & 1) + (j >> 1));
            const int16x8_t wa = vldrhq_gather_offset_z_s16((const int16_t *)(const void *)(grp + lane),
                                                            woff_a, taps_a);
            const int16x8_t wb = vldrhq_gather_offset_z_s16((const int16_t *)(const void *)(grp + lane),
                                                            woff_b, taps_b);
            const int32_t *t = (const int32_t *)(const void *)(grp + 16 + 8 * taps);
            const int32x4_t bias2 = vdupq_n_s32(((const int32_t *)(const void *)grp)[j]);
            const int32x4_t mult = vdupq_n_s32(t[j]), round = vdupq_n_s32(t[4 + j]);
            const int32x4_t neg_e = vdupq_n_s32(-t[8 + j]);
            const int8_t *x = rows + c;
            for (int32_t ox = 0; ox < ow; ox += 4) {
                int32_t acc[4] = {0, 0, 0, 0};
                for (int32_t k = 0; k < 4; k++) {
                    /* pixels past the row repeat the last one (not stored) */
                    const int8_t *px = x + (ox + k < ow ? ox + k : ow - 1) * sw * ch;
                    acc[k] = vmladavq_s16(vldrbq_gather_offset_s16(px, off_a), wa);
                    acc[k] = vmladavaq_s16(acc[k], vldrbq_gather_offset_s16(px, off_b), wb);
                }
                const int32x4_t a2 = vaddq_s32(vldrwq_s32(acc), bias2);
                int32x4_t y = vaddq_s32(vrmulhq_s32(a2, mult), round);
                y = vshlq_s32(vaddq_s32(y, vshrq_n_s32(a2, 31)), neg_e);
                y = vminq_s32(vmaxq_s32(y, lo_v), hi_v);
                vstrbq_scatter_offset_p_s32(out + ox * ch + c, out_off, y,
                                            vctp32q((uint32_t)(ow - ox)));
            }
        }
    }
    return PK_OK;
}

#else
typedef int pk_depthwise_conv2d_s8_packed_mve_needs_mve; /* ISO C wants a declaration */
#endif
