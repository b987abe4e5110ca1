/* Internal to the engine: helpers shared by the Cortex-M DSP-extension (_dsp) kernels.
 * Only compiled where __ARM_FEATURE_DSP is defined.
 *
 * The matrix kernels (pointwise and im2col convolution) work on two pixels at a time. The
 * pixels' int8 inputs are first widened once into int16 in the order SMLAD wants: for every
 * group of 4 input bytes x0..x3, SXTB16 gives the halfword pairs (x0, x2) and (x1, x3); the
 * same two instructions applied to a weight word give the matching pairs, so one SMLAD per
 * pair adds two products. Scratch layout per group k of 4 inputs: pixel 0's (x0,x2),
 * (x1,x3), then pixel 1's: 16 bytes. Each weight word is loaded and split once and used for
 * both pixels. */
#ifndef PK_DSP_H
#define PK_DSP_H

#include <arm_acle.h>
#include <string.h>

#include "pk_engine.h"
#include "pk_requantize.h"

/* SXTB16 of the word rotated right by 8: the pair (x1, x3). */
static inline uint32_t pk_sxtb16_ror8(uint32_t v)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

static inline uint32_t pk_read32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* an unaligned LDR: allowed on Cortex-M3 and later */
    return v;
}

/* The first n (< 4) bytes of p in a word, the rest zero. */
static inline uint32_t pk_read_tail(const int8_t *p, int32_t n)
{
    uint32_t v = 0;
    for (int32_t i = 0; i < n; i++) {
        v |= (uint32_t)(uint8_t)p[i] << (8 * i);
    }
    return v;
}

/* Widen len int8 values of two pixels (a, b) into the interleaved int16 layout above,
 * zero-padded to a multiple of 8 values (2 * ALIGN8(len) words). */
static inline void pk_dsp_widen2(const int8_t *a, const int8_t *b, int32_t len, uint32_t *dst)
{
    int32_t i = 0;
    for (; i + 4 <= len; i += 4, dst += 4) {
        const uint32_t va = pk_read32(a + i), vb = pk_read32(b + i);
        dst[0] = __sxtb16(va);
        dst[1] = pk_sxtb16_ror8(va);
        dst[2] = __sxtb16(vb);
        dst[3] = pk_sxtb16_ror8(vb);
    }
    if (i < len) {
        const uint32_t va = pk_read_tail(a + i, len - i), vb = pk_read_tail(b + i, len - i);
        dst[0] = __sxtb16(va);
        dst[1] = pk_sxtb16_ror8(va);
        dst[2] = __sxtb16(vb);
        dst[3] = pk_sxtb16_ror8(vb);
        dst += 4;
        i += 4;
    }
    if (i & 4) { /* an odd number of groups: one more of zeros */
        dst[0] = dst[1] = dst[2] = dst[3] = 0;
    }
}

/* What requantizing an output needs, copied out of pk_quant/pk_conv_params into locals:
 * int8 stores may alias anything, so values read through pointers would be reloaded
 * after every store. Passed by value to always-inline helpers, so it lives in registers. */
typedef struct {
    const int32_t *mult;
    const int32_t *shift;
    const int32_t *table; /* {round, e} per channel, fast path only */
    int32_t zp, lo, hi;
    pk_rounding rounding;
    int fast, full_range; /* compile-time constants in each specialised loop */
} pk_dsp_rq;

static inline __attribute__((always_inline)) pk_dsp_rq pk_dsp_rq_make(const pk_quant *q,
                                                                        const pk_conv_params *p,
                                                                        const int32_t *table,
                                                                        int fast, int full_range)
{
    const pk_dsp_rq r = {q->multiplier, q->shift, table, p->output_zero_point, p->act_min,
                         p->act_max, q->rounding, fast, full_range};
    return r;
}

/* Per-channel constants of the fast requantization: {round, e}, 8 bytes per channel.
 * Returns 1 and fills table when every channel qualifies (pk_requant_fast_ok), else 0. */
static inline int pk_dsp_fast_table(const pk_quant *q, const pk_conv_params *p, int32_t oc,
                                    int32_t *table)
{
    if (q->rounding != PK_ROUND_DOUBLE) {
        return 0;
    }
    for (int32_t c = 0; c < oc; c++) {
        if (!pk_requant_fast_ok(q->acc_abs_max, q->shift[c])) {
            return 0;
        }
    }
    for (int32_t c = 0; c < oc; c++) {
        table[2 * c] = pk_requant_fast_round(q->shift[c], p->output_zero_point);
        table[2 * c + 1] = -q->shift[c];
    }
    return 1;
}

/* One output value from an accumulator: fast or general requantization, then the clamp. */
static inline __attribute__((always_inline)) int8_t pk_dsp_out(int32_t acc, int32_t c,
                                                               pk_dsp_rq r)
{
    if (r.fast) {
        int32_t v = pk_requant_fast(acc, r.mult[c], r.table[2 * c], r.table[2 * c + 1]);
        v = __ssat(v, 8);
        return (int8_t)(r.full_range ? v : pk_min_ct(pk_max_ct(v, r.lo), r.hi));
    }
    return pk_requantize_clamp(acc, r.mult[c], r.shift[c], r.rounding, r.zp, r.lo, r.hi);
}

/* Pointers the assembly channel-pair loop walks (offsets are used in the assembly). */
typedef struct {
    const uint32_t *x16;   /* +0 */
    const uint32_t *x_end; /* +4 */
    const int32_t *bias;   /* +8, advanced two channels per pair */
    const int32_t *mult;   /* +12 */
    const int32_t *table;  /* +16 */
    int8_t *o0;            /* +20 */
    int8_t *o1;            /* +24 */
    int32_t pairs;         /* +28, counted down to 0 */
    const int8_t *w;       /* +32, the pair's first filter row */
    int32_t stride2;       /* +36, two filter rows in bytes */
} pk_dsp_pairs;

#define GROUP2(X)                                                                              \
    "ldr    %[wa], [%[w]], #4\n\t"                                                             \
    "ldrd   %[xa], %[xb], [%[x], #" #X "]\n\t"                                                \
    "ldrd   %[xc], %[xd], [%[x], #" #X "+8]\n\t"                                              \
    "sxtb16 %[t], %[wa]\n\t"                                                                  \
    "smlad  %[a00], %[xa], %[t], %[a00]\n\t"                                                  \
    "smlad  %[a10], %[xc], %[t], %[a10]\n\t"                                                  \
    "sxtb16 %[wa], %[wa], ror #8\n\t"                                                         \
    "smlad  %[a00], %[xb], %[wa], %[a00]\n\t"                                                 \
    "smlad  %[a10], %[xd], %[wa], %[a10]\n\t"                                                 \
    "ldr    %[wa], [%[w], %[koff]]\n\t"                                                       \
    "sxtb16 %[t], %[wa]\n\t"                                                                  \
    "smlad  %[a01], %[xa], %[t], %[a01]\n\t"                                                  \
    "smlad  %[a11], %[xc], %[t], %[a11]\n\t"                                                  \
    "sxtb16 %[wa], %[wa], ror #8\n\t"                                                         \
    "smlad  %[a01], %[xb], %[wa], %[a01]\n\t"                                                 \
    "smlad  %[a11], %[xd], %[wa], %[a11]\n\t"

/* pk_requant_fast then SSAT 8 of accumulator A with multiplier M, round R, shift E. */
#define REQUANT(A, M, R, E)                                                                    \
    "lsl    %[" A "], %[" A "], #1\n\t"                                                        \
    "smmulr %[" A "], %[" A "], %[" M "]\n\t"                                                 \
    "add    %[wa], %[" A "], %[" R "]\n\t"                                                    \
    "add    %[" A "], %[wa], %[" A "], asr #31\n\t"                                           \
    "asr    %[" A "], %[" A "], %[" E "]\n\t"                                                 \
    "ssat   %[" A "], #8, %[" A "]\n\t"

/* Every channel pair of two widened pixels, fast requantization without an extra clamp
 * (full int8 activation range): the C loop below, in assembly (GCC spills its 14 live
 * values around the inner loop otherwise). x16 holds a multiple of 8 inputs, zero past
 * k_len, so the weight bytes read past a row (up to 7) meet zeros. */
static inline __attribute__((always_inline)) void pk_dsp_pairs_asm(pk_dsp_pairs *b,
                                                                   int32_t k_len)
{
    const int32_t koff = k_len - 4; /* from row c's next word to row c+1's current one */
    const int8_t *w;
    int32_t a00, a01, a10, a11;
    uint32_t wa, t, xa, xb, xc, xd;
    const uint32_t *x;
    __asm__ volatile(
        "2:\n\t"
        "ldr    %[w], [%[b], #32]\n\t"
        "ldr    %[t], [%[b], #8]\n\t"
        "ldrd   %[a00], %[a01], [%[t]], #8\n\t"
        "str    %[t], [%[b], #8]\n\t"
        "mov    %[a10], %[a00]\n\t"
        "mov    %[a11], %[a01]\n\t"
        "ldr    %[x], [%[b], #0]\n\t"
        "1:\n\t"
        GROUP2(0) GROUP2(16)
        "add    %[x], %[x], #32\n\t"
        "ldr    %[t], [%[b], #4]\n\t"
        "cmp    %[x], %[t]\n\t"
        "bne    1b\n\t"
        "ldr    %[t], [%[b], #32]\n\t"
        "ldr    %[wa], [%[b], #36]\n\t"
        "add    %[t], %[t], %[wa]\n\t"
        "str    %[t], [%[b], #32]\n\t"
        "ldr    %[t], [%[b], #12]\n\t"
        "ldrd   %[xa], %[xb], [%[t]], #8\n\t"
        "str    %[t], [%[b], #12]\n\t"
        "ldr    %[t], [%[b], #16]\n\t"
        "ldrd   %[xc], %[xd], [%[t]], #16\n\t"
        "str    %[t], [%[b], #16]\n\t"
        REQUANT("a00", "xa", "xc", "xd") REQUANT("a10", "xa", "xc", "xd")
        "ldrd   %[xc], %[xd], [%[t], #-8]\n\t"
        REQUANT("a01", "xb", "xc", "xd") REQUANT("a11", "xb", "xc", "xd")
        "ldr    %[t], [%[b], #20]\n\t"
        "strb   %[a00], [%[t]], #1\n\t"
        "strb   %[a01], [%[t]], #1\n\t"
        "str    %[t], [%[b], #20]\n\t"
        "ldr    %[t], [%[b], #24]\n\t"
        "strb   %[a10], [%[t]], #1\n\t"
        "strb   %[a11], [%[t]], #1\n\t"
        "str    %[t], [%[b], #24]\n\t"
        "ldr    %[t], [%[b], #28]\n\t"
        "subs   %[t], %[t], #1\n\t"
        "str    %[t], [%[b], #28]\n\t"
        "bne    2b\n\t"
        : [a00] "=&r"(a00), [a01] "=&r"(a01), [a10] "=&r"(a10), [a11] "=&r"(a11),
          [x] "=&r"(x), [w] "=&r"(w), [wa] "=&r"(wa), [t] "=&r"(t), [xa] "=&r"(xa),
          [xb] "=&r"(xb), [xc] "=&r"(xc), [xd] "=&r"(xd)
        : [b] "r"(b), [koff] "r"(koff)
        : "cc", "memory");
}

/* Two pixels (widened in x16, k_len inputs each) times oc filter rows of k_len int8
 * weights (row stride k_len): o0[c], o1[c] for every c. */
static inline __attribute__((always_inline)) void
pk_dsp_matmul2(const uint32_t *x16, const int8_t *filter, const int32_t *bias, int32_t k_len,
               int32_t oc, pk_dsp_rq r, int8_t *o0, int8_t *o1)
{
    const int32_t groups = k_len >> 2, tail = k_len & 3;
    int32_t c = 0;
    if (r.fast && r.full_range && k_len >= 4 && oc >= 2) {
        pk_dsp_pairs b = {x16, x16 + PK_ALIGN8(k_len), bias, r.mult, r.table, o0, o1,
                          oc >> 1, filter, 2 * k_len};
        pk_dsp_pairs_asm(&b, k_len);
        c = oc & ~1;
    }
    for (; c + 2 <= oc; c += 2) {
        const int8_t *w0 = filter + c * k_len;
        int32_t a00 = bias[c], a10 = bias[c], a01 = bias[c + 1], a11 = bias[c + 1];
        const uint32_t *x = x16;
        const uint32_t *const x_end = x16 + 4 * groups;
        /* Two groups per iteration where there are two left, in assembly: GCC spills
         * this loop's 13 live values otherwise. 36 instructions per 32 MACs. */
        const uint32_t *const x_end2 = x16 + 4 * (groups & ~1);
        if (x < x_end2) {
            const int32_t koff = k_len - 4; /* from w0's next word to w1's current one */
            uint32_t wa, t, xa, xb, xc, xd;
            __asm__ volatile(
                "1:\n\t"
                "ldr    %[wa], [%[w]], #4\n\t"
                "ldrd   %[xa], %[xb], [%[x]]\n\t"
                "ldrd   %[xc], %[xd], [%[x], #8]\n\t"
                "sxtb16 %[t], %[wa]\n\t"
                "smlad  %[a00], %[xa], %[t], %[a00]\n\t"
                "smlad  %[a10], %[xc], %[t], %[a10]\n\t"
                "sxtb16 %[wa], %[wa], ror #8\n\t"
                "smlad  %[a00], %[xb], %[wa], %[a00]\n\t"
                "smlad  %[a10], %[xd], %[wa], %[a10]\n\t"
                "ldr    %[wa], [%[w], %[koff]]\n\t"
                "sxtb16 %[t], %[wa]\n\t"
                "smlad  %[a01], %[xa], %[t], %[a01]\n\t"
                "smlad  %[a11], %[xc], %[t], %[a11]\n\t"
                "sxtb16 %[wa], %[wa], ror #8\n\t"
                "smlad  %[a01], %[xb], %[wa], %[a01]\n\t"
                "smlad  %[a11], %[xd], %[wa], %[a11]\n\t"
                "ldr    %[wa], [%[w]], #4\n\t"
                "ldrd   %[xa], %[xb], [%[x], #16]\n\t"
                "ldrd   %[xc], %[xd], [%[x], #24]\n\t"
                "sxtb16 %[t], %[wa]\n\t"
                "smlad  %[a00], %[xa], %[t], %[a00]\n\t"
                "smlad  %[a10], %[xc], %[t], %[a10]\n\t"
                "sxtb16 %[wa], %[wa], ror #8\n\t"
                "smlad  %[a00], %[xb], %[wa], %[a00]\n\t"
                "smlad  %[a10], %[xd], %[wa], %[a10]\n\t"
                "ldr    %[wa], [%[w], %[koff]]\n\t"
                "sxtb16 %[t], %[wa]\n\t"
                "smlad  %[a01], %[xa], %[t], %[a01]\n\t"
                "smlad  %[a11], %[xc], %[t], %[a11]\n\t"
                "sxtb16 %[wa], %[wa], ror #8\n\t"
                "smlad  %[a01], %[xb], %[wa], %[a01]\n\t"
                "smlad  %[a11], %[xd], %[wa], %[a11]\n\t"
                "add    %[x], %[x], #32\n\t"
                "ldr    %[t], %[end]\n\t"
                "cmp    %[x], %[t]\n\t"
                "bne    1b\n\t"
                : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
                  [x] "+r"(x), [w] "+r"(w0), [wa] "=&r"(wa), [t] "=&r"(t), [xa] "=&r"(xa),
                  [xb] "=&r"(xb), [xc] "=&r"(xc), [xd] "=&r"(xd)
                : [koff] "r"(koff), [end] "m"(x_end2)
                : "cc", "memory");
        }
        if (x < x_end) {
            const uint32_t wa = pk_read32(w0), wb = pk_read32(w0 + k_len);
            w0 += 4;
            const uint32_t wa0 = __sxtb16(wa), wa1 = pk_sxtb16_ror8(wa);
            const uint32_t wb0 = __sxtb16(wb), wb1 = pk_sxtb16_ror8(wb);
            uint32_t xa, xb;
            __asm__("ldrd %0, %1, [%2], #16" : "=r"(xa), "=r"(xb), "+r"(x) : : "memory");
            a00 = __smlad(xa, wa0, a00);
            a00 = __smlad(xb, wa1, a00);
            a01 = __smlad(xa, wb0, a01);
            a01 = __smlad(xb, wb1, a01);
            __asm__("ldrd %0, %1, [%2, #-8]" : "=r"(xa), "=r"(xb) : "r"(x) : "memory");
            a10 = __smlad(xa, wa0, a10);
            a10 = __smlad(xb, wa1, a10);
            a11 = __smlad(xa, wb0, a11);
            a11 = __smlad(xb, wb1, a11);
        }
        const int8_t *w1 = w0 + k_len;
        if (tail) { /* x is zero past k_len, so the bytes read past a row do not count */
            const uint32_t wa = pk_read32(w0);
            const uint32_t wb = c + 2 < oc ? pk_read32(w1) : pk_read_tail(w1, tail);
            const uint32_t wa0 = __sxtb16(wa), wa1 = pk_sxtb16_ror8(wa);
            const uint32_t wb0 = __sxtb16(wb), wb1 = pk_sxtb16_ror8(wb);
            a00 = __smlad(x[1], wa1, __smlad(x[0], wa0, a00));
            a01 = __smlad(x[1], wb1, __smlad(x[0], wb0, a01));
            a10 = __smlad(x[3], wa1, __smlad(x[2], wa0, a10));
            a11 = __smlad(x[3], wb1, __smlad(x[2], wb0, a11));
        }
        /* All four values first, then the stores (which may alias what the values read). */
        const int8_t v00 = pk_dsp_out(a00, c, r), v01 = pk_dsp_out(a01, c + 1, r);
        const int8_t v10 = pk_dsp_out(a10, c, r), v11 = pk_dsp_out(a11, c + 1, r);
        o0[c] = v00;
        o0[c + 1] = v01;
        o1[c] = v10;
        o1[c + 1] = v11;
    }
    if (c < oc) {
        const int8_t *w0 = filter + c * k_len;
        int32_t a00 = bias[c], a10 = bias[c];
        const uint32_t *x = x16;
        for (int32_t g = 0; g < groups; g++, x += 4, w0 += 4) {
            const uint32_t wa = pk_read32(w0);
            const uint32_t wa0 = __sxtb16(wa), wa1 = pk_sxtb16_ror8(wa);
            a00 = __smlad(x[1], wa1, __smlad(x[0], wa0, a00));
            a10 = __smlad(x[3], wa1, __smlad(x[2], wa0, a10));
        }
        if (tail) {
            const uint32_t wa = pk_read_tail(w0, tail); /* the filter's last row */
            const uint32_t wa0 = __sxtb16(wa), wa1 = pk_sxtb16_ror8(wa);
            a00 = __smlad(x[1], wa1, __smlad(x[0], wa0, a00));
            a10 = __smlad(x[3], wa1, __smlad(x[2], wa0, a10));
        }
        o0[c] = pk_dsp_out(a00, c, r);
        o1[c] = pk_dsp_out(a10, c, r);
    }
}

/* pk_dsp_matmul2 specialised once per requantization kind, out of line: kernels call these
 * through a pointer chosen once per call (one copy each instead of one per call site). */
typedef void (*pk_dsp_matmul2_fn)(const uint32_t *x16, const int8_t *filter,
                                  const int32_t *bias, int32_t k_len, int32_t oc, pk_dsp_rq r,
                                  int8_t *o0, int8_t *o1);

#define PK_DSP_MATMUL2_VARIANT(name, FAST, FULL)                                               \
    static __attribute__((noinline)) void name(const uint32_t *x16, const int8_t *filter,       \
                                               const int32_t *bias, int32_t k_len, int32_t oc,  \
                                               pk_dsp_rq r, int8_t *o0, int8_t *o1)             \
    {                                                                                          \
        r.fast = FAST;                                                                         \
        r.full_range = FULL;                                                                   \
        pk_dsp_matmul2(x16, filter, bias, k_len, oc, r, o0, o1);                               \
    }

/* Defines mm_fast_full, mm_fast and mm_general in the including file; returns the one for
 * these parameters. */
#define PK_DSP_MATMUL2_PICK                                                                    \
    PK_DSP_MATMUL2_VARIANT(mm_fast_full, 1, 1)                                                 \
    PK_DSP_MATMUL2_VARIANT(mm_fast, 1, 0)                                                      \
    PK_DSP_MATMUL2_VARIANT(mm_general, 0, 0)                                                   \
    static pk_dsp_matmul2_fn pick_matmul2(int fast, int full)                                  \
    {                                                                                          \
        return fast ? (full ? mm_fast_full : mm_fast) : mm_general;                            \
    }

#endif /* PK_DSP_H */
