/*
 * The decision rule (pk_decide.h): one branch-free formula for every kind. The C uses
 * only shifts, masks, adds, subtracts and a multiply on 32-bit values, so the compiled
 * code is straight-line; tests/test_decide_firmware.py disassembles it for every board
 * and fails on a branch or a conditionally executed (IT block) instruction.
 */
#include "pk_decide.h"

#if PEEKLESS_DECIDE_N == 32
#define PK_DECIDE_MASK 0xFFFFFFFFu
#else
#define PK_DECIDE_MASK ((1u << PEEKLESS_DECIDE_N) - 1u)
#endif

const pk_hello_rule pk_decide_rule_built = {
    (uint8_t)PEEKLESS_DECIDE_KIND,       (uint8_t)PEEKLESS_MODEL_PERSON_INDEX,
    (int16_t)PEEKLESS_DECIDE_THRESHOLD,  (int16_t)PEEKLESS_DECIDE_THRESHOLD_LOW,
    (uint8_t)PEEKLESS_DECIDE_K,          (uint8_t)PEEKLESS_DECIDE_N,
};

void pk_decide_init(pk_decide_state *s)
{
    s->hits = 0u;
    s->on = 0u;
}

/*
 * Hide a value from the optimiser: GCC recognises "sign bit of a - b" as a comparison
 * and would emit a compare with a conditionally executed (IT) instruction; behind this
 * empty asm it can only shift. (Overridable only so that the test can show its check
 * catching what GCC does without it.)
 */
#ifndef PK_OPAQUE
#define PK_OPAQUE(x) __asm__("" : "+r"(x))
#endif

/* 1 when a >= b, else 0, for |a|, |b| < 2^30: the sign bit of a - b, inverted. */
static uint32_t at_least(int32_t a, int32_t b)
{
    uint32_t diff = (uint32_t)(a - b);

    PK_OPAQUE(diff);
    return 1u ^ (diff >> 31);
}

/* Set bits of a 32-bit word (SWAR, fixed instruction sequence). */
static uint32_t popcount32(uint32_t v)
{
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    v = (v + (v >> 4)) & 0x0F0F0F0Fu;
    return (v * 0x01010101u) >> 24;
}

bool pk_decide(pk_decide_state *s, const int8_t *output)
{
    const int32_t score = (int32_t)output[PEEKLESS_MODEL_PERSON_INDEX] -
                          (int32_t)output[1 - PEEKLESS_MODEL_PERSON_INDEX];
    /* threshold_low while on, threshold while off: on is 0 or 1, so this is a multiply. */
    const int32_t threshold =
        PEEKLESS_DECIDE_THRESHOLD -
        (int32_t)s->on * (PEEKLESS_DECIDE_THRESHOLD - PEEKLESS_DECIDE_THRESHOLD_LOW);
    const uint32_t hit = at_least(score, threshold);

    s->hits = ((s->hits << 1) | hit) & PK_DECIDE_MASK;
    s->on = at_least((int32_t)popcount32(s->hits), PEEKLESS_DECIDE_K);
    return s->on != 0u;
}
