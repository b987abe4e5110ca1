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

#endif /* PK_REQUANTIZE_H */
