/*
 * The decision rule: two int8 model outputs -> one person bit per frame, optionally
 * debounced over the frames before it (host twin: host_tools/decision_rule.py, which the
 * audit and `peekless evaluate` hold every device decision to).
 *
 * score = output[person] - output[other] (-255..255). A frame is a hit when
 * score >= threshold, where the threshold is PEEKLESS_DECIDE_THRESHOLD, or under
 * hysteresis PEEKLESS_DECIDE_THRESHOLD_LOW while the last decision was "person". The
 * decision is "person" when at least K of the last N hits (this frame's included) are set.
 * Every kind is that one formula with its own constants:
 *   argmax      threshold 1, K = N = 1      (person output strictly the larger)
 *   threshold   threshold T, K = N = 1
 *   k_of_n      threshold T, 1 <= K <= N <= 32
 *   hysteresis  on at T, stays on while score >= T_LOW (T_LOW < T), K = N = 1
 *
 * Constant time: pk_decide is straight-line code (no branch, no loop, no table lookup), so
 * its instructions and memory accesses are the same whatever the scores
 * (tests/test_decide_firmware.py checks the object code). State across frames: the last N
 * hit bits and the last decision, 33 bits in all, the debounce needs them; it never holds
 * a pixel or an activation, and the decision bit it keeps has already been sent.
 */
#ifndef PK_DECIDE_H
#define PK_DECIDE_H

#include <stdbool.h>
#include <stdint.h>

#include "peekless_model.h"
#include "pk_link.h"

/* Kinds as HELLO's rule_kind states them (docs/PROTOCOL.md). */
#define PK_DECIDE_ARGMAX 0
#define PK_DECIDE_THRESHOLD 1
#define PK_DECIDE_K_OF_N 2
#define PK_DECIDE_HYSTERESIS 3

/*
 * Build-time rule (firmware/Makefile DECIDE=..., DECIDE_THRESHOLD=..., ...); default
 * argmax. Changes results: recorded in the build manifest and stated in HELLO.
 */
#ifndef PEEKLESS_DECIDE_KIND
#define PEEKLESS_DECIDE_KIND PK_DECIDE_ARGMAX
#endif
#ifndef PEEKLESS_DECIDE_THRESHOLD
#define PEEKLESS_DECIDE_THRESHOLD 1
#endif
#ifndef PEEKLESS_DECIDE_THRESHOLD_LOW
#define PEEKLESS_DECIDE_THRESHOLD_LOW PEEKLESS_DECIDE_THRESHOLD
#endif
#ifndef PEEKLESS_DECIDE_K
#define PEEKLESS_DECIDE_K 1
#endif
#ifndef PEEKLESS_DECIDE_N
#define PEEKLESS_DECIDE_N 1
#endif

#if PEEKLESS_DECIDE_KIND < 0 || PEEKLESS_DECIDE_KIND > 3
#error "PEEKLESS_DECIDE_KIND must be 0 (argmax), 1 (threshold), 2 (k_of_n) or 3 (hysteresis)"
#endif
#if PEEKLESS_DECIDE_THRESHOLD < -256 || PEEKLESS_DECIDE_THRESHOLD > 256 || \
    PEEKLESS_DECIDE_THRESHOLD_LOW < -256 || PEEKLESS_DECIDE_THRESHOLD_LOW > 256
#error "decision thresholds must lie in -256..256 (scores are -255..255)"
#endif
#if PEEKLESS_DECIDE_K < 1 || PEEKLESS_DECIDE_K > PEEKLESS_DECIDE_N || PEEKLESS_DECIDE_N > 32
#error "the decision rule needs 1 <= K <= N <= 32"
#endif
#if PEEKLESS_DECIDE_KIND == PK_DECIDE_ARGMAX && \
    (PEEKLESS_DECIDE_THRESHOLD != 1 || PEEKLESS_DECIDE_THRESHOLD_LOW != 1 || PEEKLESS_DECIDE_N != 1)
#error "argmax is threshold 1 with no debounce"
#endif
#if PEEKLESS_DECIDE_KIND != PK_DECIDE_K_OF_N && (PEEKLESS_DECIDE_K != 1 || PEEKLESS_DECIDE_N != 1)
#error "K and N belong to the k_of_n rule"
#endif
#if PEEKLESS_DECIDE_KIND == PK_DECIDE_K_OF_N && PEEKLESS_DECIDE_N == 1
#error "k_of_n with N = 1 is the threshold rule"
#endif
#if PEEKLESS_DECIDE_KIND == PK_DECIDE_HYSTERESIS
#if PEEKLESS_DECIDE_THRESHOLD_LOW >= PEEKLESS_DECIDE_THRESHOLD
#error "hysteresis needs DECIDE_THRESHOLD_LOW below DECIDE_THRESHOLD"
#endif
#elif PEEKLESS_DECIDE_THRESHOLD_LOW != PEEKLESS_DECIDE_THRESHOLD
#error "DECIDE_THRESHOLD_LOW belongs to the hysteresis rule"
#endif

/* The rule built in, as HELLO states it (person_index: PEEKLESS_MODEL_PERSON_INDEX). */
extern const pk_hello_rule pk_decide_rule_built;

/* Debounce state; zero (pk_decide_init) before the first frame. */
typedef struct {
    uint32_t hits; /* bit i: frame (now - i) was a hit; only the low N bits are used */
    uint32_t on;   /* the last decision, 0 or 1 */
} pk_decide_state;

/* Start from "no frame seen": no hits, last decision "no person". s: out. */
void pk_decide_init(pk_decide_state *s);

/*
 * This frame's decision. s: in/out, the state pk_decide_init set up and earlier calls
 * left. output: in, the model's PEEKLESS_MODEL_OUTPUT_BYTES (2) int8 outputs.
 * Straight-line code: the same instructions whatever the values.
 */
bool pk_decide(pk_decide_state *s, const int8_t *output);

#endif /* PK_DECIDE_H */
