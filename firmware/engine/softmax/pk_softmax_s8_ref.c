/* Int8 softmax in fixed point (output scale 1/256, zero point -128), bit-exact with TFLite's
 * reference kernel. Values are Q-format int32: "Qn" below means n integer bits, 31 - n
 * fractional bits. exp() is evaluated on [-1/4, 0) by a Taylor polynomial and extended to all
 * negative inputs by multiplying in exp(-2^k) for each set bit of the rest. */
#include "pk_engine.h"
#include "pk_requantize.h"

#define SCALED_DIFF_INT_BITS 5 /* the exp() argument is Q5 */
#define ACCUM_INT_BITS 12      /* the sum of exps is Q12 */

static int32_t mul(int32_t a, int32_t b) /* Qm * Qn -> Q(m+n) */
{
    return pk_sat_rounding_doubling_high_mul(a, b);
}

/* x * 2^exponent, saturating, for exponent > 0. */
static int32_t sat_shift_left(int32_t x, int exponent)
{
    const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
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
        if (remainder & (1 << (frac_bits - 2 + k))) {
            result = mul(result, exp_of_minus_pot[k]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), Q0 in and out, by three Newton-Raphson steps. */
static int32_t one_over_one_plus_x(int32_t a)
{
    const int64_t sum = (int64_t)a + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2); /* Q0 */
    const int32_t c48_over_17 = 1515870810;                                       /* Q2 */
    const int32_t c_neg32_over_17 = -1010580540;                                  /* Q2 */
    int32_t x = c48_over_17 + mul(half_denominator, c_neg32_over_17);              /* Q2 */
    for (int i = 0; i < 3; i++) {
        const int32_t one_minus_dx = (1 << 29) - mul(half_denominator, x); /* Q2 */
        x = x + sat_shift_left(mul(x, one_minus_dx), 2);                   /* Q4 -> Q2 */
    }
    return sat_shift_left(x, 1); /* the same raw bits as Q1 are x / 2; then Q1 -> Q0 */
}

static int count_leading_zeros(uint32_t x)
{
    int n = 0;
    while (n < 32 && !(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
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
            max = in[c] > max ? in[c] : max;
        }
        int32_t sum = 0; /* Q12 */
        for (int32_t c = 0; c < depth; c++) {
            const int32_t diff = in[c] - max;
            if (diff >= p->diff_min) {
                const int32_t scaled = mul(diff * (1 << p->input_left_shift), p->input_multiplier);
                sum += pk_rounding_divide_by_pot(exp_negative(scaled), ACCUM_INT_BITS);
            }
        }
        const int headroom = count_leading_zeros((uint32_t)sum);
        const int bits_over_unit = ACCUM_INT_BITS - headroom;
        const int32_t sum_minus_one = (int32_t)(((uint32_t)sum << headroom) - (1u << 31));
        const int32_t reciprocal = one_over_one_plus_x(sum_minus_one);
        for (int32_t c = 0; c < depth; c++) {
            const int32_t diff = in[c] - max;
            if (diff < p->diff_min) {
                out[c] = -128;
                continue;
            }
            const int32_t scaled = mul(diff * (1 << p->input_left_shift), p->input_multiplier);
            int32_t v = pk_rounding_divide_by_pot(mul(reciprocal, exp_negative(scaled)),
                                                  bits_over_unit + 31 - 8) - 128;
            out[c] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
        }
    }
    return PK_OK;
}
