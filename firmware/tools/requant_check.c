/* Host proof of the fast requantization identities (pk_requantize.h) against TFLite's
 * arithmetic as pk_requantize implements it:
 *   1. SRDHM(a, b) == SMMULR(2a, b) for b in [0, 2^31) and 2a in int32;
 *   2. RDBP(y, e) + zp == (y + 2^(e-1) + zp * 2^e + (y >> 31)) >> e when the sum fits;
 *   3. pk_requant_fast(acc) == pk_requantize(acc) + zp for every |acc| <= bound whenever
 *      pk_requant_fast_ok(bound, shift), including the bound's edges;
 *   4. pk_requant_packed(2 acc) (the packed kernels' form) equals it too.
 * usage: requant_check SEED COUNT; prints "ok <checks>" or the first counterexample. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "pk_requantize.h"

static uint64_t state;

static uint64_t next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static int32_t pick_int32(void)
{
    /* a mix of full-range values and values near 0 and near the ends */
    const uint64_t r = next();
    switch (r % 4) {
    case 0:
        return (int32_t)(uint32_t)(r >> 32);
    case 1:
        return (int32_t)((int64_t)(r >> 40) - (1 << 23));
    case 2:
        return INT32_MAX - (int32_t)((r >> 40) & 0xFFFF);
    default:
        return INT32_MIN + (int32_t)((r >> 40) & 0xFFFF);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s SEED COUNT\n", argv[0]);
        return 2;
    }
    state = 0x9E3779B97F4A7C15ull ^ strtoull(argv[1], NULL, 10);
    const long count = strtol(argv[2], NULL, 10);
    long checks = 0;
    for (long i = 0; i < count; i++) {
        /* 1 */
        const int32_t a = pick_int32() / 2; /* 2a fits */
        const int32_t b = (int32_t)(next() >> 33);
        const int32_t srdhm = pk_sat_rounding_doubling_high_mul(a, b);
        if (srdhm != pk_smmulr(a * 2, b)) {
            printf("srdhm a=%" PRId32 " b=%" PRId32 "\n", a, b);
            return 1;
        }
        /* 2 */
        const int e = 1 + (int)(next() % 31);
        const int32_t zp = (int32_t)(next() % 256) - 128;
        const int32_t y = pick_int32();
        const int64_t sum = (int64_t)y + ((int64_t)1 << (e - 1)) + (int64_t)zp * ((int64_t)1 << e) +
                            (y < 0 ? -1 : 0);
        if (sum >= INT32_MIN && sum <= INT32_MAX) {
            /* wrapping adds: only the total is known to fit */
            const int32_t fast = (int32_t)((uint32_t)y + (uint32_t)pk_requant_fast_round(-e, zp) +
                                           (uint32_t)(y >> 31)) >> e;
            if (fast != pk_rounding_divide_by_pot(y, e) + zp) {
                printf("rdbp y=%" PRId32 " e=%d zp=%" PRId32 "\n", y, e, zp);
                return 1;
            }
        }
        /* 3 */
        const int32_t mult = (int32_t)((1u << 30) + (uint32_t)(next() >> 34));
        const int32_t shift = -(int32_t)(next() % 32);
        int32_t bound = (int32_t)(next() >> (33 + next() % 31));
        bound = bound > 0 ? bound : 1;
        if (pk_requant_fast_ok(bound, shift)) {
            const int32_t e3 = -shift, rnd = pk_requant_fast_round(shift, zp);
            const int32_t edges[6] = {bound, -bound, bound - 1, -bound + 1, 0, -1};
            for (int k = 0; k < 7; k++) {
                const int32_t acc =
                    k < 6 ? edges[k] : (int32_t)((int64_t)(next() % (2ull * bound + 1)) - bound);
                const int32_t want = pk_requantize(acc, mult, shift) + zp;
                if (pk_requant_fast(acc, mult, rnd, e3) != want ||
                    pk_requant_packed(2 * acc, mult, rnd, e3) != want) {
                    printf("fast acc=%" PRId32 " mult=%" PRId32 " shift=%" PRId32 " zp=%" PRId32
                           "\n",
                           acc, mult, shift, zp);
                    return 1;
                }
                checks++;
            }
        }
        checks += 2;
    }
    printf("ok %ld\n", checks);
    return 0;
}
