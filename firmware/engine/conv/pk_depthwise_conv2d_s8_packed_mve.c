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
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pk_engine_packed.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include "pk_mve.h"

#define MAX_TAPS 16
/* Rows narrower than this go to the DSP variant, which is faster there (measured on MLPerf
 * VWW's 3-wide layers: a step of eight pixels would be mostly idle). */
#define MIN_OW 4

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

/* What the assembly reads (field order used there). */
typedef struct {
    const int8_t *x;      /* +0  pixel 0's window corner (channel c of the padded rows) */
    int32_t step;         /* +4  bytes from one pixel's corner to the next */
    int32_t pixels;       /* +8  pixels in the row */
    int8_t *out;          /* +12 pixel 0's output, channel c */
    int32_t ch4;          /* +16 4 * channels: from a pixel's output to the 4th next */
    const int16_t *w;     /* +20 the channel's 16 doubled weights (0 past the taps) */
    const uint16_t *off;  /* +24 16 tap offsets from a corner */
    const uint32_t *oout; /* +28 {0, ch, 2 ch, 3 ch} */
    int32_t bias2, mult, round, neg_e, act_min, act_max; /* +32 .. +52 */
} px_args;

typedef char px_args_layout_check[offsetof(px_args, act_max) == 52 ? 1 : -1];

/* One pixel K: its 16 taps against the weights, into accumulator A. */
#define PX(A)                                                                                  \
    "vldrb.s16      q4, [r1, q2]\n\t"                                                          \
    "vmladav.s16    " A ", q4, q0\n\t"                                                          \
    "vldrb.s16      q4, [r1, q3]\n\t"                                                          \
    "vmladava.s16   " A ", q4, q1\n\t"                                                         \
    "add            r1, r1, r3\n\t"

/* One channel of one output row, eight pixels a step: accumulators r0, r2, ..., lr (the
 * even registers VMLADAV takes); x in r1, step in r3, pixels left in r5, out in r7. Pixels
 * past the row are computed from the padded rows' spare bytes and not stored. */
__attribute__((naked)) static void channel_row(const px_args *a)
{
    (void)a;
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "vpush  {d8-d15}\n\t"
        "sub    sp, sp, #56\n\t"
        "mov    r12, sp\n\t"
        "ldm    r0!, {r1-r8}\n\t"
        "stm    r12!, {r1-r8}\n\t"
        "ldm    r0, {r1-r6}\n\t"
        "stm    r12, {r1-r6}\n\t"
        "ldr    r0, [sp, #20]\n\t"
        "vldrh.16       q0, [r0]\n\t"
        "vldrh.16       q1, [r0, #16]\n\t"
        "ldr    r0, [sp, #24]\n\t"
        "vldrh.16       q2, [r0]\n\t"
        "vldrh.16       q3, [r0, #16]\n\t"
        "ldm    sp, {r1, r3, r5, r7}\n\t"
        "1:\n\t"
        PX("r0") PX("r2") PX("r4") PX("r6") PX("r8") PX("r10") PX("r12") PX("lr")
        "vmov   q4[2], q4[0], r0, r4\n\t" /* the first register to the lower lane */
        "vmov   q4[3], q4[1], r2, r6\n\t"
        "vmov   q5[2], q5[0], r8, r12\n\t"
        "vmov   q5[3], q5[1], r10, lr\n\t"
        "add    r0, sp, #32\n\t"
        "ldm    r0, {r0, r2, r4, r6, r8, r10}\n\t" /* 2 bias, M, round, -e, min, max */
        "vadd.i32       q4, q4, r0\n\t"
        "vadd.i32       q5, q5, r0\n\t"
        "vdup.32        q6, r2\n\t"
        "vrmulh.s32     q7, q4, q6\n\t"
        "vrmulh.s32     q6, q5, q6\n\t"
        "vadd.i32       q7, q7, r4\n\t"
        "vadd.i32       q6, q6, r4\n\t"
        "vshr.s32       q4, q4, #31\n\t"
        "vshr.s32       q5, q5, #31\n\t"
        "vadd.i32       q7, q7, q4\n\t"
        "vadd.i32       q6, q6, q5\n\t"
        "vshl.s32       q7, r6\n\t"
        "vshl.s32       q6, r6\n\t"
        "vdup.32        q4, r8\n\t"
        "vmax.s32       q7, q7, q4\n\t"
        "vmax.s32       q6, q6, q4\n\t"
        "vdup.32        q4, r10\n\t"
        "vmin.s32       q7, q7, q4\n\t"
        "vmin.s32       q6, q6, q4\n\t"
        "ldr    r0, [sp, #28]\n\t"
        "vldrw.u32      q4, [r0]\n\t"
        "ldr    r9, [sp, #16]\n\t"
        "vctp.32        r5\n\t"
        "vpst\n\t"
        "vstrbt.32      q7, [r7, q4]\n\t"
        "add    r7, r7, r9\n\t"
        "subs   r5, r5, #4\n\t"
        "it     le\n\t"
        "movle  r5, #0\n\t"
        "vctp.32        r5\n\t"
        "vpst\n\t"
        "vstrbt.32      q6, [r7, q4]\n\t"
        "add    r7, r7, r9\n\t"
        "subs   r5, r5, #4\n\t"
        "bgt    1b\n\t"
        "add    sp, sp, #56\n\t"
        "vpop   {d8-d15}\n\t"
        "pop    {r4-r11, pc}\n\t");
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
    /* the padded rows, and room for the up to 7 pixels past a row that a step of eight
     * reads (and does not store) */
    if (taps > MAX_TAPS || kh * rs > 65535 || ow < MIN_OW ||
        ctx->size < PK_DEPTHWISE_PACKED_MVE_SCRATCH_BYTES(kh, kw, sw, dw, ow, ch)) {
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
    /* a doubled weight's byte offset in its group: lane j of channel c = 4g + j, tap t */
    uint16_t woff[MAX_TAPS] = {0};
    for (int32_t t = 0; t < taps; t++) {
        woff[t] = (uint16_t)(16 + 8 * t);
    }
    const uint16x8_t woff_a = vldrhq_u16(woff), woff_b = vldrhq_u16(woff + 8);
    const mve_pred16_t taps_a = vctp16q((uint32_t)taps);
    const mve_pred16_t taps_b = vctp16q((uint32_t)(taps > 8 ? taps - 8 : 0));
    const uint32_t oout[4] = {0, (uint32_t)ch, 2 * (uint32_t)ch, 3 * (uint32_t)ch};
    int16_t w[16];
    px_args a = {NULL, sw * ch, ow, NULL, 4 * ch, w, off, oout, 0, 0, 0, 0, p->act_min,
                 p->act_max};
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
            const int16_t *base = (const int16_t *)(const void *)(grp + lane);
            vstrhq_s16(w, vldrhq_gather_offset_z_s16(base, woff_a, taps_a));
            vstrhq_s16(w + 8, vldrhq_gather_offset_z_s16(base, woff_b, taps_b));
            int32_t t[3];
            memcpy(t, grp + 16 + 8 * taps + 12 * j, sizeof t);
            int32_t b2;
            memcpy(&b2, grp + 4 * j, sizeof b2);
            a.x = rows + c;
            a.out = out + c;
            a.bias2 = b2;
            a.mult = t[0];
            a.round = t[1];
            a.neg_e = -t[2];
            channel_row(&a);
        }
    }
    return PK_OK;
}

#else
typedef int pk_depthwise_conv2d_s8_packed_mve_needs_mve; /* ISO C wants a declaration */
#endif
