/* Fixed-point requantization, bit-exact with TFLite's reference kernels
 * (MultiplyByQuantizedMultiplier with double rounding, the LiteRT default). */
#ifndef PK_REQUANTIZE_H
#define PK_REQUANTIZE_H

#include <stdint.h>

#include "pk_types.h"

/* Constant time: no branch or loop bound in this file depends on a value being
 * requantized (only on per-channel constants such as a shift), so an inference's
 * instruction count does not depend on its input. Selections are written as masks, not
 * as conditions, so that no compiler turns them into branches. */

/* -1 when v < 0, else 0. */
static inline int32_t pk_sign_mask(int32_t v)
{
    return (int32_t)(0u - ((uint32_t)v >> 31));
}

/* (a * b * 2) >> 32 with round-half-away-from-zero, saturating the one overflow case. */
static inline int32_t pk_sat_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    const int64_t ab = (int64_t)a * (int64_t)b;
    /* The nudge is 2^30 for ab >= 0 and 1 - 2^30 below: 2^30 + (1 - 2^31) there. */
    const int64_t x = ab + (1LL << 30) + ((ab >> 63) & (1 - (1LL << 31)));
    /* Division, not a shift: TFLite truncates toward zero here (a negative x first gets
     * 2^31 - 1 added). */
    const int64_t q = (x + ((x >> 63) & ((1LL << 31) - 1))) >> 31;
    /* a == b == INT32_MIN gives q = 2^31, which TFLite saturates to INT32_MAX. */
    const uint32_t t = ((uint32_t)a ^ 0x80000000u) | ((uint32_t)b ^ 0x80000000u);
    const uint32_t overflow = ((t | (0u - t)) >> 31) ^ 1u;
    return (int32_t)((uint32_t)q - overflow);
}

/* x / 2^exponent rounded half away from zero, exponent in [0, 31]. */
static inline int32_t pk_rounding_divide_by_pot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)((1u << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (int32_t)((uint32_t)x >> 31);
    /* + 1 when remainder > threshold (both in [0, 2^31), so the difference fits) */
    return (x >> exponent) + (int32_t)((uint32_t)(threshold - remainder) >> 31);
}

/* max(a, b) and min(a, b), for a and b whose difference fits int32. */
static inline int32_t pk_max_ct(int32_t a, int32_t b)
{
    const int32_t d = (int32_t)((uint32_t)a - (uint32_t)b);
    return (int32_t)((uint32_t)a - ((uint32_t)d & (uint32_t)pk_sign_mask(d)));
}

static inline int32_t pk_min_ct(int32_t a, int32_t b)
{
    const int32_t d = (int32_t)((uint32_t)a - (uint32_t)b);
    return (int32_t)((uint32_t)b + ((uint32_t)d & (uint32_t)pk_sign_mask(d)));
}

/* v clamped to [lo, hi] (lo <= hi, both within int8), for any int32 v. */
static inline int32_t pk_clamp(int32_t v, int32_t lo, int32_t hi)
{
    const int64_t below = (int64_t)v - lo; /* 64 bits: no overflow for any v */
    const int64_t above = (int64_t)v - hi;
    return (int32_t)((int64_t)v - (below & (below >> 63)) - (above & ~(above >> 63)));
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
    return (int8_t)pk_clamp(v, act_min, act_max);
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

/** (a * b + c * 2^32 + 2^31) >> 32: SMMLAR, the rounded high word of the product plus c. */
static inline int32_t pk_smmlar(int32_t a, int32_t b, int32_t c)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
#else
    return (int32_t)(((int64_t)a * b + (int64_t)c * 4294967296LL + 0x80000000LL) >> 32);
#endif
}

/**
 * The packed kernels' requantization (pk_engine_packed.h), for acc2 = 2 * accumulator, the
 * folded bias included: equal to pk_requant_fast(acc) wherever pk_requant_fast_ok holds.
 * The rounding fix-up takes the sign of acc2 instead of the product's: the two differ only
 * where the product rounds to 0, and there both give the output zero point (proven by
 * firmware/tools/requant_check.c). Four instructions on Cortex-M: SMMLAR, ADD, ASR, then
 * the caller's SSAT.
 */
static inline int32_t pk_requant_packed(int32_t acc2, int32_t multiplier, int32_t round,
                                        int32_t e)
{
    return (pk_smmlar(acc2, multiplier, round) + (acc2 >> 31)) >> e;
}

#endif /* PK_REQUANTIZE_H */
