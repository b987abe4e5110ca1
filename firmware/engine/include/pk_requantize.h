/* Fixed-point requantization, bit-exact with TFLite's reference kernels
 * (MultiplyByQuantizedMultiplier with double rounding, the LiteRT default). */
#ifndef PK_REQUANTIZE_H
#define PK_REQUANTIZE_H

#include <stdint.h>

#include "pk_types.h"

/* (a * b * 2) >> 32 with round-half-away-from-zero, saturating the one overflow case. */
static inline int32_t pk_sat_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1LL << 30) : (1 - (1LL << 30));
    /* Division, not a shift: TFLite truncates toward zero here. */
    return (int32_t)((ab + nudge) / (1LL << 31));
}

/* x / 2^exponent rounded half away from zero, exponent in [0, 31]. */
static inline int32_t pk_rounding_divide_by_pot(int32_t x, int exponent)
{
    int32_t mask = (int32_t)((1LL << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * multiplier * 2^(shift - 31), multiplier in Q31, shift in [-31, 30]. */
static inline int32_t pk_requantize(int32_t x, int32_t multiplier, int32_t shift)
{
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    int32_t scaled = (int32_t)((uint32_t)x << left); /* wraps as TFLite's int multiply does */
    return pk_rounding_divide_by_pot(pk_sat_rounding_doubling_high_mul(scaled, multiplier), right);
}

/* x * multiplier * 2^(shift - 31) with one rounding (half up) of the 64-bit product. */
static inline int32_t pk_requantize_single(int32_t x, int32_t multiplier, int32_t shift)
{
    const int total_shift = 31 - shift;
    const int64_t round = (int64_t)1 << (total_shift - 1);
    return (int32_t)(((int64_t)x * multiplier + round) >> total_shift);
}

/* Requantize an accumulator, add the output zero point and clamp to the activation range. */
static inline int8_t pk_requantize_clamp(int32_t acc, int32_t multiplier, int32_t shift,
                                         pk_rounding rounding, int32_t out_zp, int32_t act_min,
                                         int32_t act_max)
{
    int32_t v = (rounding == PK_ROUND_SINGLE ? pk_requantize_single(acc, multiplier, shift)
                                             : pk_requantize(acc, multiplier, shift)) + out_zp;
    v = v < act_min ? act_min : v;
    v = v > act_max ? act_max : v;
    return (int8_t)v;
}

/* ---- Fast exact requantization, for the optimized variants --------------------------
 *
 * For a multiplier M in [0, 2^31) and a pure right shift e = -shift >= 1, TFLite's double
 * rounding plus the output zero point is, exactly,
 *   SRDHM(a, M)       == SMMULR(2a, M) = ((2a * M + 2^31) >> 32)      when 2a fits int32
 *   RDBP(y, e) + zp   == (y + 2^(e-1) + zp * 2^e + (y >> 31)) >> e     when the sum fits
 * (arithmetic shifts). pk_requant_fast_ok says whether both "fits" hold for every
 * accumulator |acc| <= acc_abs_max; firmware/tools/requant_check.c proves the identities
 * against pk_requantize over random and edge values (tests/test_engine_exact.py). */

/** 1 when pk_requant_fast is exact for this channel and every |acc| <= acc_abs_max. */
static inline int pk_requant_fast_ok(int32_t acc_abs_max, int32_t shift)
{
    if (acc_abs_max <= 0 || shift > -1 || shift < -31) {
        return 0;
    }
    const int64_t b = acc_abs_max;
    return 2 * b <= INT32_MAX && b + 2 + 129 * ((int64_t)1 << -shift) <= INT32_MAX;
}

/** The rounding constant of pk_requant_fast, with the output zero point folded in. */
static inline int32_t pk_requant_fast_round(int32_t shift, int32_t out_zp)
{
    const int e = -shift;
    return (int32_t)(((int64_t)1 << (e - 1)) + (int64_t)out_zp * ((int64_t)1 << e));
}

/** (a * b + 2^31) >> 32, the rounded high word of the product (SMMULR). */
static inline int32_t pk_smmulr(int32_t a, int32_t b)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (int32_t)(((int64_t)a * b + 0x80000000LL) >> 32);
#endif
}

/** requantize(acc) + out_zp, before the activation clamp; only where pk_requant_fast_ok. */
static inline int32_t pk_requant_fast(int32_t acc, int32_t multiplier, int32_t round,
                                      int32_t e)
{
    const int32_t y = pk_smmulr((int32_t)((uint32_t)acc << 1), multiplier);
    return (y + round + (y >> 31)) >> e;
}

static inline int32_t pk_clamp(int32_t v, int32_t lo, int32_t hi)
{
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

#endif /* PK_REQUANTIZE_H */
