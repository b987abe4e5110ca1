/* Int8 softmax in fixed point (output scale 1/256, zero point -128), bit-exact with TFLite's
 * reference kernel. Values are Q-format int32: "Qn" below means n integer bits, 31 - n
 * fractional bits. exp() is evaluated on [-1/4, 0) by a Taylor polynomial and extended to all
 * negative inputs by multiplying in exp(-2^k) for each set bit of the rest.
 *
 * Constant time: every value is computed on every path and chosen by a mask (never by a
 * branch on data), so the instruction count depends on the shape only. */
#include "pk_engine.h"
#include "pk_requantize.h"

#define SCALED_DIFF_INT_BITS 5 /* the exp() argument is Q5 */
#define ACCUM_INT_BITS 12      /* the sum of exps is Q12 */

static int32_t mul(int32_t a, int32_t b) /* Qm * Qn -> Q(m+n) */
{
    return pk_sat_rounding_doubling_high_mul(a, b);
}

/* mask ? a : b, for mask 0 or -1. */
static int32_t select(int32_t mask, int32_t a, int32_t b)
{
    return (int32_t)(((uint32_t)a & (uint32_t)mask) | ((uint32_t)b & ~(uint32_t)mask));
}

/* -1 when a > b, else 0 (a - b computed in 64 bits: no overflow). */
static int32_t greater_mask(int32_t a, int32_t b)
{
    return (int32_t)(((int64_t)b - a) >> 63);
}

/* x * 2^exponent, saturating, for exponent > 0. */
static int32_t sat_shift_left(int32_t x, int exponent)
{
    const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1);
    const int32_t shifted = (int32_t)((uint32_t)x << exponent);
    const int32_t r = select(greater_mask(x, threshold), INT32_MAX, shifted);
    return select(greater_mask(-threshold, x), INT32_MIN, r);
}

/* exp(a) for a in [-1/4, 0), a and result Q0. */
static int32_t exp_small_negative(int32_t a)
{
    const int32_t exp_minus_one_eighth = 1895147668; /* exp(-1/8) in Q0 */
    const int32_t one_third = 715827883;             /* 1/3 in Q0 */
    const int32_t x = a + (1 << 28);                 /* expand around -1/8 */
    const int32_t x2 = mul(x, x);
    const int32_t x3 = mul(x2, x);
    const int32_t x4 = mul(x2, x2);
    const int32_t x4_over_4 = pk_rounding_divide_by_pot(x4, 2);
    const int32_t poly = pk_rounding_divide_by_pot(mul(x4_over_4 + x3, one_third) + x2, 1);
    return exp_minus_one_eighth + mul(exp_minus_one_eighth, x + poly);
}

/* exp(a) for a <= 0; a is Q5, the result Q0. */
static int32_t exp_negative(int32_t a)
{
    /* exp(-2^k) in Q0 for k = -2 .. 4, applied for each bit of the remainder. */
    static const int32_t exp_of_minus_pot[7] = {
        1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242,
    };
    const int frac_bits = 31 - SCALED_DIFF_INT_BITS;
    const int32_t quarter = 1 << (frac_bits - 2);
    const int32_t a_mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter;
    /* Q5 -> Q0 is a saturating shift left by 5. */
    int32_t result = exp_small_negative(sat_shift_left(a_mod_quarter_minus_quarter, SCALED_DIFF_INT_BITS));
    const int32_t remainder = a_mod_quarter_minus_quarter - a;
    for (int k = 0; k < 7; k++) {
        /* -1 when bit frac_bits - 2 + k of the remainder is set */
        const int32_t bit = -(int32_t)(((uint32_t)remainder >> (frac_bits - 2 + k)) & 1u);
        result = select(bit, mul(result, exp_of_minus_pot[k]), result);
    }
    /* a == 0: a | -a has its sign bit clear only for 0 */
    const int32_t zero = ~pk_sign_mask((int32_t)((uint32_t)a | (0u - (uint32_t)a)));
    return select(zero, INT32_MAX, result);
}

/* 1 / (1 + x) for x in [0, 1), Q0 in and out, by three Newton-Raphson steps. */
static int32_t one_over_one_plus_x(int32_t a)
{
    const int64_t sum = (int64_t)a + INT32_MAX;
    /* (sum + (sum >= 0 ? 1 : -1)) / 2, the sign chosen by a mask */
    const int32_t half_denominator = (int32_t)((sum + 1 + 2 * (sum >> 63)) / 2); /* Q0 */
    const int32_t c48_over_17 = 1515870810;                                       /* Q2 */
    const int32_t c_neg32_over_17 = -1010580540;                                  /* Q2 */
    int32_t x = c48_over_17 + mul(half_denominator, c_neg32_over_17);              /* Q2 */
    for (int i = 0; i < 3; i++) {
        const int32_t one_minus_dx = (1 << 29) - mul(half_denominator, x); /* Q2 */
        x = x + sat_shift_left(mul(x, one_minus_dx), 2);                   /* Q4 -> Q2 */
    }
    return sat_shift_left(x, 1); /* the same raw bits as Q1 are x / 2; then Q1 -> Q0 */
}

/* Leading zero bits of x, without a loop that stops at the first set bit. */
static int count_leading_zeros(uint32_t x)
{
    int n = 0;
    for (int step = 16; step > 0; step >>= 1) {
        /* 1 when the top `step` bits of x are all zero: shift them out of the way */
        const uint32_t top = x >> (32 - step);
        const uint32_t zero = ((top | (0u - top)) >> 31) ^ 1u;
        const uint32_t move = 0u - zero;
        x = (x & ~move) | ((x << step) & move);
        n += (int)(zero * (uint32_t)step);
    }
    return n + (int)((x >> 31) ^ 1u); /* x == 0 gives 32 */
}

/* diff * 2^input_left_shift, wrapping: diffs below diff_min, computed and then discarded,
 * may not fit (those that count always do). */
static int32_t shifted(int32_t diff, const pk_softmax_params *p)
{
    return (int32_t)((uint32_t)diff << p->input_left_shift);
}

pk_status pk_softmax_s8_ref(const pk_softmax_params *p, const pk_dims *dims, const int8_t *in,
                        int8_t *out)
{
    if (!p || !dims || !in || !out) {
        return PK_ERR_ARG;
    }
    const int32_t depth = dims->c;
    const int32_t rows = dims->n * dims->h * dims->w;
    for (int32_t r = 0; r < rows; r++, in += depth, out += depth) {
        int32_t max = -128;
        for (int32_t c = 0; c < depth; c++) {
            max = pk_max_ct(max, in[c]);
        }
        int32_t sum = 0; /* Q12 */
        for (int32_t c = 0; c < depth; c++) {
            const int32_t diff = in[c] - max;
            const int32_t scaled = mul(shifted(diff, p), p->input_multiplier);
            const int32_t term = pk_rounding_divide_by_pot(exp_negative(scaled), ACCUM_INT_BITS);
            sum += term & ~pk_sign_mask(diff - p->diff_min); /* only where diff >= diff_min */
        }
        const int headroom = count_leading_zeros((uint32_t)sum);
        const int bits_over_unit = ACCUM_INT_BITS - headroom;
        const int32_t sum_minus_one = (int32_t)(((uint32_t)sum << headroom) - (1u << 31));
        const int32_t reciprocal = one_over_one_plus_x(sum_minus_one);
        for (int32_t c = 0; c < depth; c++) {
            const int32_t diff = in[c] - max;
            const int32_t scaled = mul(shifted(diff, p), p->input_multiplier);
            const int32_t v = pk_rounding_divide_by_pot(mul(reciprocal, exp_negative(scaled)),
                                                        bits_over_unit + 31 - 8) - 128;
            /* -128 where diff < diff_min */
            out[c] = (int8_t)select(pk_sign_mask(diff - p->diff_min), -128, pk_clamp(v, -128, 127));
        }
    }
    return PK_OK;
}
