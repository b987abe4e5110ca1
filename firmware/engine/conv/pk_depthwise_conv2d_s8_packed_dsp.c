/* Depthwise int8 convolution with a packed filter for Cortex-M4/M7 (DSP extension): depth
 * multiplier 1, channels a multiple of 4.
 *
 * For each output row and each group of 4 channels, the window rows are first converted
 * into scratch: column by column, each row's word of 4 channels widened by SXTB16 into the
 * pairs (c0, c2) and (c1, c3), padded columns and rows holding the input zero point. Every
 * tap of every output pixel is then at a fixed offset from the pixel's first column, so a
 * 3x3 kernel with stride 1 or 2 runs in assembly, two output pixels at a time: per tap one
 * LDRD of doubled weights (compiler-widened, pk_engine_packed.h) shared by both pixels, one
 * LDRD of inputs and four SMLABB/SMLATT per pixel; accumulators start at 2 * bias, so the
 * requantization (SMMLAR, ADD, ASR, SSAT) needs no doubling. Other shapes, and the odd last
 * pixel of a row, take a C loop over the same columns.
 *
 * Output rows are produced in order, all groups of a row before the next row, and a row's
 * inputs are read before its outputs are written: the row-streaming contract. */
#include <string.h>

#include "pk_engine_packed.h"

#if defined(__ARM_FEATURE_DSP)
#include "pk_dsp.h"

/* What the assembly reads (field order used there). */
typedef struct {
    const uint32_t *x;     /* first pair's first column */
    const int8_t *w;       /* the group's packed filter */
    const uint32_t *x_end; /* x + pairs * the pair step */
    int8_t *out;           /* first pixel's output, channel 4g */
    int32_t ch;            /* bytes from one output pixel to the next */
    int32_t clamp, act_min, act_max;
} dw_args;

/* Tap T of a 3x3 window (row ky = T / 3, column kx = T % 3; columns 24 bytes apart) for
 * two pixels S columns apart: weights r12/lr, pixel 0 into r2..r5, pixel 1 into r6..r9. */
#define DW_TAP(T, S)                                                                               \
    "ldrd   r12, lr, [r1, #(16 + 8 * " #T ")]\n\t"                                                 \
    "ldrd   r10, r11, [r0, #(24 * (" #T " % 3) + 8 * (" #T " / 3))]\n\t"                           \
    "smlabb r2, r10, r12, r2\n\t"                                                                  \
    "smlatt r4, r10, r12, r4\n\t"                                                                  \
    "smlabb r3, r11, lr, r3\n\t"                                                                   \
    "smlatt r5, r11, lr, r5\n\t"                                                                   \
    "ldrd   r10, r11, [r0, #(24 * (" #S " + " #T " % 3) + 8 * (" #T " / 3))]\n\t"                  \
    "smlabb r6, r10, r12, r6\n\t"                                                                  \
    "smlatt r8, r10, r12, r8\n\t"                                                                  \
    "smlabb r7, r11, lr, r7\n\t"                                                                   \
    "smlatt r9, r11, lr, r9\n\t"

/* Channel C's two accumulators A0 (pixel 0) and A1 (pixel 1), requantized (the table after
 * the 9 taps: channel C's {multiplier, round, e} at 88 + 12 C). */
#define DW_REQUANT(C, A0, A1)                                                                      \
    "add    r12, r1, #(88 + 12 * " #C ")\n\t"                                                      \
    "ldm    r12, {r10, r11, r12}\n\t"                                                              \
    "smmlar lr, " A0 ", r10, r11\n\t"                                                              \
    "add    lr, lr, " A0 ", asr #31\n\t"                                                           \
    "asr    lr, lr, r12\n\t"                                                                       \
    "ssat   " A0 ", #8, lr\n\t"                                                                    \
    "smmlar lr, " A1 ", r10, r11\n\t"                                                              \
    "add    lr, lr, " A1 ", asr #31\n\t"                                                           \
    "asr    lr, lr, r12\n\t"                                                                       \
    "ssat   " A1 ", #8, lr\n\t"

#define DW_CLAMP(A)                                                                                \
    "cmp    " A ", r10\n\t"                                                                        \
    "it     lt\n\t"                                                                                \
    "movlt  " A ", r10\n\t"                                                                        \
    "cmp    " A ", r11\n\t"                                                                        \
    "it     gt\n\t"                                                                                \
    "movgt  " A ", r11\n\t"

/* Pairs of output pixels S columns apart, 3x3 taps, one group of 4 channels. */
#define DW_PAIRS(NAME, S)                                                                          \
    __attribute__((naked)) static void NAME(const dw_args *a)                                      \
    {                                                                                              \
        (void)a;                                                                                   \
        __asm__ volatile(                                                                          \
            "push   {r4-r11, lr}\n\t"                                                              \
            "sub    sp, sp, #24\n\t"                                                               \
            "ldm    r0, {r0-r7}\n\t"                                                               \
            "stm    sp, {r2-r7}\n\t" /* sp: x_end, out, ch, clamp, min, max */                     \
            "1:\n\t"                                                                               \
            "ldm    r1, {r2-r5}\n\t"                                                               \
            "ldm    r1, {r6-r9}\n\t"                                                               \
            DW_TAP(0, S) DW_TAP(1, S) DW_TAP(2, S) DW_TAP(3, S) DW_TAP(4, S) DW_TAP(5, S)          \
            DW_TAP(6, S) DW_TAP(7, S) DW_TAP(8, S)                                                 \
            DW_REQUANT(0, "r2", "r6") DW_REQUANT(1, "r3", "r7") DW_REQUANT(2, "r4", "r8")          \
            DW_REQUANT(3, "r5", "r9")                                                              \
            "ldr    r10, [sp, #12]\n\t"                                                            \
            "cmp    r10, #0\n\t"                                                                   \
            "beq    2f\n\t"                                                                        \
            "ldrd   r10, r11, [sp, #16]\n\t"                                                       \
            DW_CLAMP("r2") DW_CLAMP("r3") DW_CLAMP("r4") DW_CLAMP("r5")                            \
            DW_CLAMP("r6") DW_CLAMP("r7") DW_CLAMP("r8") DW_CLAMP("r9")                            \
            "2:\n\t"                                                                               \
            "ldrd   r10, r11, [sp, #4]\n\t"                                                        \
            "strb   r2, [r10]\n\t"                                                                 \
            "strb   r3, [r10, #1]\n\t"                                                             \
            "strb   r4, [r10, #2]\n\t"                                                             \
            "strb   r5, [r10, #3]\n\t"                                                             \
            "add    r10, r10, r11\n\t"                                                             \
            "strb   r6, [r10]\n\t"                                                                 \
            "strb   r7, [r10, #1]\n\t"                                                             \
            "strb   r8, [r10, #2]\n\t"                                                             \
            "strb   r9, [r10, #3]\n\t"                                                             \
            "add    r10, r10, r11\n\t"                                                             \
            "str    r10, [sp, #4]\n\t"                                                             \
            "add    r0, r0, #(48 * " #S ")\n\t"                                                    \
            "ldr    r12, [sp]\n\t"                                                                 \
            "cmp    r0, r12\n\t"                                                                   \
            "bne    1b\n\t"                                                                        \
            "add    sp, sp, #24\n\t"                                                               \
            "pop    {r4-r11, pc}\n\t");                                                            \
    }

DW_PAIRS(pairs_3x3_s1, 1)
DW_PAIRS(pairs_3x3_s2, 2)

/* Tap T of a 3x3 window for one pixel: weights r12/lr, accumulators r2..r5. */
#define DW_TAP1(T)                                                                                 \
    "ldrd   r12, lr, [r1, #(16 + 8 * " #T ")]\n\t"                                                 \
    "ldrd   r10, r11, [r0, #(24 * (" #T " % 3) + 8 * (" #T " / 3))]\n\t"                           \
    "smlabb r2, r10, r12, r2\n\t"                                                                  \
    "smlatt r4, r10, r12, r4\n\t"                                                                  \
    "smlabb r3, r11, lr, r3\n\t"                                                                   \
    "smlatt r5, r11, lr, r5\n\t"

#define DW_REQUANT1(C, A)                                                                          \
    "add    r12, r1, #(88 + 12 * " #C ")\n\t"                                                      \
    "ldm    r12, {r10, r11, r12}\n\t"                                                              \
    "smmlar lr, " A ", r10, r11\n\t"                                                               \
    "add    lr, lr, " A ", asr #31\n\t"                                                            \
    "asr    lr, lr, r12\n\t"                                                                       \
    "ssat   " A ", #8, lr\n\t"

/* The last pixel of a row of odd width (3x3 taps, one group): the same arithmetic as a
 * pair's, for pixel 0 only. dw_args as for the pairs; x_end is not read. */
__attribute__((naked)) static void single_3x3(const dw_args *a)
{
    (void)a;
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "ldm    r0, {r0-r7}\n\t" /* x, w, x_end, out, ch, clamp, min, max */
        "push   {r3, r5-r7}\n\t"
        "ldm    r1, {r2-r5}\n\t"
        DW_TAP1(0) DW_TAP1(1) DW_TAP1(2) DW_TAP1(3) DW_TAP1(4) DW_TAP1(5) DW_TAP1(6)
        DW_TAP1(7) DW_TAP1(8)
        DW_REQUANT1(0, "r2") DW_REQUANT1(1, "r3") DW_REQUANT1(2, "r4") DW_REQUANT1(3, "r5")
        "pop    {r6-r9}\n\t" /* out, clamp, min, max */
        "cmp    r7, #0\n\t"
        "beq    1f\n\t"
        "mov    r10, r8\n\t"
        "mov    r11, r9\n\t"
        DW_CLAMP("r2") DW_CLAMP("r3") DW_CLAMP("r4") DW_CLAMP("r5")
        "1:\n\t"
        "strb   r2, [r6]\n\t"
        "strb   r3, [r6, #1]\n\t"
        "strb   r4, [r6, #2]\n\t"
        "strb   r5, [r6, #3]\n\t"
        "pop    {r4-r11, pc}\n\t");
}

/* One output pixel, any taps: its first column col (kh rows of (c0, c2), (c1, c3) each;
 * columns cstep words apart, taps dcol columns apart). */
static void pixel(const uint32_t *col, int32_t kh, int32_t kw, int32_t cstep, int32_t dcol,
                  const int8_t *grp, const pk_conv_params *p, int8_t *o)
{
    const int32_t taps = kh * kw;
    int32_t acc[4], t[12];
    memcpy(acc, grp, 16);
    for (int32_t ky = 0, k = 0; ky < kh; ky++) {
        for (int32_t kx = 0; kx < kw; kx++, k++) {
            const uint32_t *x = col + kx * dcol * cstep + 2 * ky;
            uint32_t w[2];
            memcpy(w, grp + 16 + 8 * k, 8);
            acc[0] = __smlabb((int32_t)x[0], (int32_t)w[0], acc[0]);
            acc[2] = __smlatt((int32_t)x[0], (int32_t)w[0], acc[2]);
            acc[1] = __smlabb((int32_t)x[1], (int32_t)w[1], acc[1]);
            acc[3] = __smlatt((int32_t)x[1], (int32_t)w[1], acc[3]);
        }
    }
    memcpy(t, grp + 16 + 8 * taps, sizeof t);
    for (int32_t j = 0; j < 4; j++) {
        const int32_t v =
            __ssat(pk_requant_packed(acc[j], t[3 * j], t[3 * j + 1], t[3 * j + 2]), 8);
        o[j] = (int8_t)pk_min_ct(pk_max_ct(v, p->act_min), p->act_max);
    }
}

/* Widen n words of one group, ch bytes apart from src, into slot 0 of n columns of dst
 * (cstep bytes apart). 8 instructions a column. */
static inline __attribute__((always_inline)) void widen_cols(const int8_t *src, int32_t ch,
                                                             int32_t n, uint32_t *dst,
                                                             int32_t cstep)
{
    uint32_t v, t;
    if (n > 0) {
        __asm__ volatile("1:\n\t"
                         "ldr    %[v], [%[s]]\n\t"
                         "add    %[s], %[s], %[ch]\n\t"
                         "sxtb16 %[t], %[v]\n\t"
                         "sxtb16 %[v], %[v], ror #8\n\t"
                         "strd   %[t], %[v], [%[d]]\n\t"
                         "add    %[d], %[d], %[cs]\n\t"
                         "subs   %[n], %[n], #1\n\t"
                         "bne    1b\n\t"
                         : [v] "=&r"(v), [t] "=&r"(t), [s] "+r"(src), [d] "+r"(dst), [n] "+r"(n)
                         : [ch] "r"(ch), [cs] "r"(cstep)
                         : "cc", "memory");
    }
}

/* 3 rows a column: slots 1, 2 move to 0, 1 and the new row is widened into slot 2, for n
 * columns from col (24 bytes each). 10 instructions a column. */
static inline __attribute__((always_inline)) void roll3_cols(const int8_t *src, int32_t ch,
                                                             int32_t n, uint32_t *col)
{
    uint32_t a, b, c, d, t;
    if (n > 0) {
        __asm__ volatile("1:\n\t"
                         "add    %[t], %[col], #8\n\t"
                         "ldm    %[t], {%[a], %[b], %[c], %[d]}\n\t"
                         "stm    %[col]!, {%[a], %[b], %[c], %[d]}\n\t"
                         "ldr    %[t], [%[s]]\n\t"
                         "add    %[s], %[s], %[ch]\n\t"
                         "sxtb16 %[a], %[t]\n\t"
                         "sxtb16 %[t], %[t], ror #8\n\t"
                         "strd   %[a], %[t], [%[col]], #8\n\t"
                         "subs   %[n], %[n], #1\n\t"
                         "bne    1b\n\t"
                         : [a] "=&r"(a), [b] "=&r"(b), [c] "=&r"(c), [d] "=&r"(d), [t] "=&r"(t),
                           [s] "+r"(src), [col] "+r"(col), [n] "+r"(n)
                         : [ch] "r"(ch)
                         : "cc", "memory");
    }
}

/* 3 rows a column, stride 2: slot 2 moves to 0 and the two new rows (at src and
 * src + row) are widened into slots 1 and 2, for n columns from col. 15 instructions a
 * column. */
static inline __attribute__((always_inline)) void roll3_s2_cols(const int8_t *src,
                                                                int32_t row, int32_t ch,
                                                                int32_t n, uint32_t *col)
{
    uint32_t a, b, t;
    const int8_t *src2 = src + row;
    if (n > 0) {
        __asm__ volatile("1:\n\t"
                         "ldrd   %[a], %[b], [%[col], #16]\n\t"
                         "strd   %[a], %[b], [%[col]]\n\t"
                         "ldr    %[t], [%[s]]\n\t"
                         "add    %[s], %[s], %[ch]\n\t"
                         "sxtb16 %[a], %[t]\n\t"
                         "sxtb16 %[t], %[t], ror #8\n\t"
                         "strd   %[a], %[t], [%[col], #8]\n\t"
                         "ldr    %[t], [%[s2]]\n\t"
                         "add    %[s2], %[s2], %[ch]\n\t"
                         "sxtb16 %[a], %[t]\n\t"
                         "sxtb16 %[t], %[t], ror #8\n\t"
                         "strd   %[a], %[t], [%[col], #16]\n\t"
                         "add    %[col], %[col], #24\n\t"
                         "subs   %[n], %[n], #1\n\t"
                         "bne    1b\n\t"
                         : [a] "=&r"(a), [b] "=&r"(b), [t] "=&r"(t), [s] "+r"(src),
                           [s2] "+r"(src2), [col] "+r"(col), [n] "+r"(n)
                         : [ch] "r"(ch)
                         : "cc", "memory");
    }
}

/* All 3 rows of n columns at once (rows at src and src + row, src + 2 row; ch bytes from
 * one column to the next) into col (24 bytes a column). 15 instructions a column. */
static inline __attribute__((always_inline)) void widen3_cols(const int8_t *src, int32_t row,
                                                              int32_t ch, int32_t n,
                                                              uint32_t *col)
{
    const int8_t *s1 = src + row, *s2 = src + 2 * row;
    /* STM stores in register order: the six words in ascending registers */
    register uint32_t a __asm__("r2"), b __asm__("r3"), c __asm__("r4"), d __asm__("r5");
    register uint32_t e __asm__("r6"), f __asm__("r12");
    if (n > 0) {
        __asm__ volatile("1:\n\t"
                         "ldr    %[b], [%[s0]]\n\t"
                         "add    %[s0], %[s0], %[ch]\n\t"
                         "ldr    %[d], [%[s1]]\n\t"
                         "add    %[s1], %[s1], %[ch]\n\t"
                         "ldr    %[f], [%[s2]]\n\t"
                         "add    %[s2], %[s2], %[ch]\n\t"
                         "sxtb16 %[a], %[b]\n\t"
                         "sxtb16 %[b], %[b], ror #8\n\t"
                         "sxtb16 %[c], %[d]\n\t"
                         "sxtb16 %[d], %[d], ror #8\n\t"
                         "sxtb16 %[e], %[f]\n\t"
                         "sxtb16 %[f], %[f], ror #8\n\t"
                         "stm    %[col]!, {%[a], %[b], %[c], %[d], %[e], %[f]}\n\t"
                         "subs   %[n], %[n], #1\n\t"
                         "bne    1b\n\t"
                         : [a] "=&r"(a), [b] "=&r"(b), [c] "=&r"(c), [d] "=&r"(d), [e] "=&r"(e),
                           [f] "=&r"(f), [s0] "+r"(src), [s1] "+r"(s1), [s2] "+r"(s2),
                           [col] "+r"(col), [n] "+r"(n)
                         : [ch] "r"(ch)
                         : "cc", "memory");
    }
}

/* The window rows of one group (channels from in + 4g) into its buffer: column j (input
 * column j - pad_left) holds kh slots of two words, slot ky = input row iy0 + ky * dh.
 * first_slot: the slots before it already hold their rows (moved by the caller). */
static void convert(const pk_conv_params *p, const pk_dims *in_dims, const int8_t *in,
                    int32_t iy0, int32_t kh, int32_t first_slot, int32_t cols, int32_t lo,
                    int32_t hi, uint32_t zpw, uint32_t *buf)
{
    const int32_t ih = in_dims->h, iw = in_dims->w, ch = in_dims->c, pl = p->pad_left;
    const int32_t cstep = 2 * kh;
    if (first_slot == 0 && kh == 3 && p->dilation_h == 1 && iy0 >= 0 && iy0 + 2 < ih) {
        for (int32_t j = 0; j < lo; j++) {
            for (int32_t w = 0; w < 6; w++) {
                buf[j * 6 + w] = zpw;
            }
        }
        for (int32_t j = hi; j < cols; j++) {
            for (int32_t w = 0; w < 6; w++) {
                buf[j * 6 + w] = zpw;
            }
        }
        widen3_cols(in + (iy0 * iw + (lo - pl)) * ch, iw * ch, ch, hi - lo, buf + lo * 6);
        return;
    }
    for (int32_t ky = first_slot; ky < kh; ky++) {
        uint32_t *dst = buf + 2 * ky;
        const int32_t iy = iy0 + ky * p->dilation_h;
        if (iy < 0 || iy >= ih) {
            for (int32_t j = 0; j < cols; j++, dst += cstep) {
                dst[0] = dst[1] = zpw;
            }
            continue;
        }
        if (first_slot == 0) { /* the padded columns once per call: they never change */
            for (int32_t j = 0; j < lo; j++) {
                dst[j * cstep] = dst[j * cstep + 1] = zpw;
            }
            for (int32_t j = hi; j < cols; j++) {
                dst[j * cstep] = dst[j * cstep + 1] = zpw;
            }
        }
        widen_cols(in + (iy * iw + (lo - pl)) * ch, ch, hi - lo, dst + lo * cstep, 4 * cstep);
    }
}

pk_status pk_depthwise_conv2d_s8_packed_dsp(const pk_ctx *ctx, const pk_conv_params *p,
                                            const pk_quant *q, const pk_dims *in_dims,
                                            const int8_t *in, const pk_dims *filter_dims,
                                            const int8_t *filter, const int32_t *bias,
                                            const pk_dims *out_dims, int8_t *out)
{
    (void)bias;
    if (!ctx || !p || !q || !in_dims || !in || !filter_dims || !filter || !out_dims || !out) {
        return PK_ERR_ARG;
    }
    const int32_t ch = in_dims->c, kh = filter_dims->h, kw = filter_dims->w;
    const int32_t ih = in_dims->h, iw = in_dims->w, sh = p->stride_h, pl = p->pad_left;
    const int32_t oh = out_dims->h, ow = out_dims->w, sw = p->stride_w, dw = p->dilation_w;
    if ((ch & 3) || out_dims->c != ch || p->depth_multiplier != 1 ||
        ctx->size < PK_DEPTHWISE_PACKED_SCRATCH_BYTES(kh, kw, sw, dw, ow, 4)) {
        return PK_ERR_ARG;
    }
    const int32_t cols = (ow - 1) * sw + (kw - 1) * dw + 1, cstep = 2 * kh;
    const int32_t group_bytes = PK_DW_GROUP_BYTES(kh * kw), group_words = cols * cstep;
    /* the columns inside the input, [lo, hi) */
    const int32_t lo = pl < cols ? pl : cols;
    int32_t hi = iw + pl < cols ? iw + pl : cols;
    hi = hi > lo ? hi : lo;
    const uint32_t zpw = ((uint32_t)p->input_zero_point & 0xFFFFu) |
                         ((uint32_t)p->input_zero_point << 16);
    const int fast = kh == 3 && kw == 3 && dw == 1 && p->dilation_h == 1 && (sw == 1 || sw == 2);
    const int32_t pairs = fast ? ow / 2 : 0;
    /* Groups with a buffer of their own keep their window rows from one output row to the
     * next: the rows still in the window move up (sh slots) and only the new ones are
     * widened (each input row once per group, not kh times). With scratch for fewer
     * buffers than groups, the last buffer is shared by the remaining groups, which widen
     * every window row again. */
    const int32_t groups = ch / 4;
    int32_t buffers = (int32_t)((uint32_t)ctx->size / (4u * (uint32_t)group_words));
    buffers = buffers < groups ? buffers : groups;
    const int32_t kept = buffers == groups ? groups : buffers - 1;
    const int roll = p->dilation_h == 1 && sh < kh;
    dw_args a = {NULL, NULL, NULL, NULL, ch, p->act_min != -128 || p->act_max != 127,
                 p->act_min, p->act_max};
    for (int32_t oy = 0; oy < oh; oy++, out += ow * ch) {
        const int32_t iy0 = oy * sh - p->pad_top;
        const int32_t iy_new = iy0 + kh - 1; /* the one new row when sh == 1 */
        for (int32_t g = 0; g < groups; g++) {
            uint32_t *buf = (uint32_t *)ctx->buf + (g < kept ? g : kept) * group_words;
            const int8_t *grp = filter + g * group_bytes;
            const int8_t *in_g = in + 4 * g;
            const int rolls = oy > 0 && roll && g < kept;
            if (rolls && kh == 3 && sh == 1 && iy_new < ih) {
                roll3_cols(in_g + (iy_new * iw + (lo - pl)) * ch, ch, hi - lo, buf + lo * cstep);
            } else if (rolls && kh == 3 && sh == 2 && iy_new < ih) {
                roll3_s2_cols(in_g + ((iy_new - 1) * iw + (lo - pl)) * ch, iw * ch, ch, hi - lo,
                              buf + lo * cstep);
            } else if (rolls) {
                const int32_t keep = 2 * (kh - sh); /* slots sh.. move to 0.. */
                for (uint32_t *col = buf + lo * cstep; col < buf + hi * cstep; col += cstep) {
                    for (int32_t w = 0; w < keep; w++) {
                        col[w] = col[w + 2 * sh];
                    }
                }
                convert(p, in_dims, in_g, iy0, kh, kh - sh, cols, lo, hi, zpw, buf);
            } else {
                convert(p, in_dims, in_g, iy0, kh, 0, cols, lo, hi, zpw, buf);
            }
            if (pairs) {
                a.x = buf;
                a.x_end = buf + pairs * 2 * sw * cstep;
                a.w = grp;
                a.out = out + 4 * g;
                if (sw == 1) {
                    pairs_3x3_s1(&a);
                } else {
                    pairs_3x3_s2(&a);
                }
            }
            if (fast && (ow & 1)) {
                a.x = buf + (ow - 1) * sw * cstep;
                a.w = grp;
                a.out = out + (ow - 1) * ch + 4 * g;
                single_3x3(&a);
            } else {
                for (int32_t ox = 2 * pairs; ox < ow; ox++) {
                    pixel(buf + ox * sw * cstep, kh, kw, cstep, dw, grp, p,
                          out + ox * ch + 4 * g);
                }
            }
        }
    }
    return PK_OK;
}

#else
typedef int pk_depthwise_conv2d_s8_packed_dsp_needs_dsp; /* ISO C wants a declaration */
#endif
