/* The six-pixel inner product of the DSP-extension kernels (pk_dsp_mm6.h), in assembly:
 * GCC spills the fourteen live values of this loop otherwise. */
#include "pk_engine.h"

#if defined(__ARM_FEATURE_DSP)
#include "pk_dsp_mm6.h"

/* One group of 4 inputs (weights at r1, inputs at r0): accumulators r2..r7. */
#define PK_MM6_GROUP                                                                           \
    "ldr    r9, [r1], #4\n\t"                                                                 \
    "ldm    r0!, {r10, r11, r12, lr}\n\t"                                                     \
    "sxtb16 r8, r9\n\t"                                                                       \
    "sxtb16 r9, r9, ror #8\n\t"                                                               \
    "smlad  r2, r10, r8, r2\n\t"                                                              \
    "smlad  r2, r11, r9, r2\n\t"                                                              \
    "smlad  r3, r12, r8, r3\n\t"                                                              \
    "smlad  r3, lr, r9, r3\n\t"                                                               \
    "ldm    r0!, {r10, r11, r12, lr}\n\t"                                                     \
    "smlad  r4, r10, r8, r4\n\t"                                                              \
    "smlad  r4, r11, r9, r4\n\t"                                                              \
    "smlad  r5, r12, r8, r5\n\t"                                                              \
    "smlad  r5, lr, r9, r5\n\t"                                                               \
    "ldm    r0!, {r10, r11, r12, lr}\n\t"                                                     \
    "smlad  r6, r10, r8, r6\n\t"                                                              \
    "smlad  r6, r11, r9, r6\n\t"                                                              \
    "smlad  r7, r12, r8, r7\n\t"                                                              \
    "smlad  r7, lr, r9, r7\n\t"

/* Requantize accumulator A with the table in r8 (2 bias), r9 (M), r10 (round), r11 (e). */
#define PK_MM6_REQUANT(A)                                                                      \
    "add    " A ", r8, " A ", lsl #1\n\t"                                                     \
    "smmlar r12, " A ", r9, r10\n\t"                                                          \
    "add    r12, r12, " A ", asr #31\n\t"                                                     \
    "asr    r12, r12, r11\n\t"                                                                \
    "ssat   " A ", #8, r12\n\t"

/* The rows from args->w to out_end, for six pixels: out[p * stride + c]; groups >= 1.
 * Per row: the first group starts the accumulators (SMUAD); the others run in a loop of
 * four, entered where the number left over needs (computed once per call, from the shape),
 * so there is no per-row test of the group count. */
__attribute__((naked)) void pk_dsp_mm6(const pk_dsp_mm6_args *args)
{
    (void)args;
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "sub    sp, sp, #24\n\t"
        "ldm    r0, {r1-r7}\n\t"
        "stm    sp, {r2-r6}\n\t" /* sp: x16, x_end, out, stride, out_end, entry */
        "subs   r7, r7, #1\n\t"
        "adr    r8, .Lmm6_requant\n\t"
        "beq    9f\n\t"
        "and    r7, r7, #3\n\t"
        "cmp    r7, #1\n\t"
        "adr    r8, .Lmm6_g3\n\t"
        "beq    9f\n\t"
        "cmp    r7, #2\n\t"
        "adr    r8, .Lmm6_g2\n\t"
        "beq    9f\n\t"
        "cmp    r7, #3\n\t"
        "adr    r8, .Lmm6_g1\n\t"
        "beq    9f\n\t"
        "adr    r8, .Lmm6_g0\n\t"
        "9:\n\t"
        "orr    r8, r8, #1\n\t" /* a Thumb address */
        "str    r8, [sp, #20]\n\t"
        ".Lmm6_row:\n\t"
        "ldr    r0, [sp]\n\t"
        "ldr    r9, [r1], #4\n\t"
        "ldm    r0!, {r10, r11, r12, lr}\n\t"
        "sxtb16 r8, r9\n\t"
        "sxtb16 r9, r9, ror #8\n\t"
        "smuad  r2, r10, r8\n\t"
        "smlad  r2, r11, r9, r2\n\t"
        "smuad  r3, r12, r8\n\t"
        "smlad  r3, lr, r9, r3\n\t"
        "ldm    r0!, {r10, r11, r12, lr}\n\t"
        "smuad  r4, r10, r8\n\t"
        "smlad  r4, r11, r9, r4\n\t"
        "smuad  r5, r12, r8\n\t"
        "smlad  r5, lr, r9, r5\n\t"
        "ldm    r0!, {r10, r11, r12, lr}\n\t"
        "smuad  r6, r10, r8\n\t"
        "smlad  r6, r11, r9, r6\n\t"
        "smuad  r7, r12, r8\n\t"
        "smlad  r7, lr, r9, r7\n\t"
        "ldr    pc, [sp, #20]\n\t"
        ".Lmm6_g0:\n\t" PK_MM6_GROUP
        ".Lmm6_g1:\n\t" PK_MM6_GROUP
        ".Lmm6_g2:\n\t" PK_MM6_GROUP
        ".Lmm6_g3:\n\t" PK_MM6_GROUP
        "ldr    r8, [sp, #4]\n\t"
        "cmp    r0, r8\n\t"
        "bne    .Lmm6_g0\n\t"
        ".Lmm6_requant:\n\t"
        "ldm    r1!, {r8, r9, r10, r11}\n\t"
        PK_MM6_REQUANT("r2") PK_MM6_REQUANT("r3") PK_MM6_REQUANT("r4")
        PK_MM6_REQUANT("r5") PK_MM6_REQUANT("r6") PK_MM6_REQUANT("r7")
        "ldrd   lr, r12, [sp, #8]\n\t"
        "strb   r2, [lr]\n\t"
        "strb   r3, [lr, r12]\n\t"
        "add    r10, lr, r12, lsl #1\n\t"
        "strb   r4, [r10]\n\t"
        "strb   r5, [r10, r12]\n\t"
        "add    r10, r10, r12, lsl #1\n\t"
        "strb   r6, [r10]\n\t"
        "strb   r7, [r10, r12]\n\t"
        "add    lr, lr, #1\n\t"
        "str    lr, [sp, #8]\n\t"
        "ldr    r12, [sp, #16]\n\t"
        "cmp    lr, r12\n\t"
        "bne    .Lmm6_row\n\t"
        "add    sp, sp, #24\n\t"
        "pop    {r4-r11, pc}\n\t");
}

/* Three pixels: accumulators r2..r4, 6 words of inputs a group. */
__attribute__((naked)) void pk_dsp_mm3(const pk_dsp_mm6_args *args)
{
    (void)args;
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "ldm    r0, {r1, r5, r6, r7, r8, r9}\n\t" /* w, x16, x_end, out, stride, out_end */
        ".Lmm3_row:\n\t"
        "mov    r0, r5\n\t"
        "movs   r2, #0\n\t"
        "movs   r3, #0\n\t"
        "movs   r4, #0\n\t"
        ".Lmm3_group:\n\t"
        "ldr    lr, [r1], #4\n\t"
        "sxtb16 r12, lr\n\t"
        "sxtb16 lr, lr, ror #8\n\t"
        "ldm    r0!, {r10, r11}\n\t"
        "smlad  r2, r10, r12, r2\n\t"
        "smlad  r2, r11, lr, r2\n\t"
        "ldm    r0!, {r10, r11}\n\t"
        "smlad  r3, r10, r12, r3\n\t"
        "smlad  r3, r11, lr, r3\n\t"
        "ldm    r0!, {r10, r11}\n\t"
        "smlad  r4, r10, r12, r4\n\t"
        "smlad  r4, r11, lr, r4\n\t"
        "cmp    r0, r6\n\t"
        "bne    .Lmm3_group\n\t"
        "push   {r5, r6}\n\t"
        "ldm    r1!, {r5, r6, r10, r11}\n\t" /* 2 bias, M, round, e */
        "add    r2, r5, r2, lsl #1\n\t"
        "smmlar r12, r2, r6, r10\n\t"
        "add    r12, r12, r2, asr #31\n\t"
        "asr    r12, r12, r11\n\t"
        "ssat   r2, #8, r12\n\t"
        "add    r3, r5, r3, lsl #1\n\t"
        "smmlar r12, r3, r6, r10\n\t"
        "add    r12, r12, r3, asr #31\n\t"
        "asr    r12, r12, r11\n\t"
        "ssat   r3, #8, r12\n\t"
        "add    r4, r5, r4, lsl #1\n\t"
        "smmlar r12, r4, r6, r10\n\t"
        "add    r12, r12, r4, asr #31\n\t"
        "asr    r12, r12, r11\n\t"
        "ssat   r4, #8, r12\n\t"
        "pop    {r5, r6}\n\t"
        "strb   r2, [r7]\n\t"
        "strb   r3, [r7, r8]\n\t"
        "strb   r4, [r7, r8, lsl #1]\n\t"
        "add    r7, r7, #1\n\t"
        "cmp    r7, r9\n\t"
        "bne    .Lmm3_row\n\t"
        "pop    {r4-r11, pc}\n\t");
}

#else
typedef int pk_dsp_mm6_needs_dsp; /* ISO C wants a declaration */
#endif
