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

/* Clamp A to [r8, r9]. */
#define PK_MM6_CLAMP(A)                                                                        \
    "cmp    " A ", r8\n\t"                                                                    \
    "it     lt\n\t"                                                                           \
    "movlt  " A ", r8\n\t"                                                                    \
    "cmp    " A ", r9\n\t"                                                                    \
    "it     gt\n\t"                                                                           \
    "movgt  " A ", r9\n\t"

/* The rows from args->w to out_end, for six pixels: out[p * stride + c]. groups >= 2 and
 * even (rows are padded to 8 inputs). */
__attribute__((naked)) void pk_dsp_mm6(const pk_dsp_mm6_args *args)
{
    (void)args;
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "sub    sp, sp, #32\n\t"
        "ldr    r1, [r0], #4\n\t"
        "ldm    r0, {r2-r9}\n\t"
        "stm    sp, {r2-r9}\n\t" /* sp: x16, x_end, out, stride, out_end, min, max, clamp */
        "1:\n\t"
        "ldr    r0, [sp]\n\t"
        /* the first group starts the accumulators (SMUAD), the second adds */
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
        PK_MM6_GROUP
        "ldr    r8, [sp, #4]\n\t"
        "cmp    r0, r8\n\t"
        "beq    3f\n\t"
        "2:\n\t"
        PK_MM6_GROUP PK_MM6_GROUP
        "ldr    r8, [sp, #4]\n\t"
        "cmp    r0, r8\n\t"
        "bne    2b\n\t"
        "3:\n\t"
        "ldm    r1!, {r8, r9, r10, r11}\n\t"
        PK_MM6_REQUANT("r2") PK_MM6_REQUANT("r3") PK_MM6_REQUANT("r4")
        PK_MM6_REQUANT("r5") PK_MM6_REQUANT("r6") PK_MM6_REQUANT("r7")
        "ldr    r12, [sp, #28]\n\t"
        "cmp    r12, #0\n\t"
        "beq    4f\n\t"
        "ldrd   r8, r9, [sp, #20]\n\t"
        PK_MM6_CLAMP("r2") PK_MM6_CLAMP("r3") PK_MM6_CLAMP("r4")
        PK_MM6_CLAMP("r5") PK_MM6_CLAMP("r6") PK_MM6_CLAMP("r7")
        "4:\n\t"
        "ldr    lr, [sp, #8]\n\t"
        "ldr    r12, [sp, #12]\n\t"
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
        "bne    1b\n\t"
        "add    sp, sp, #32\n\t"
        "pop    {r4-r11, pc}\n\t");
}

#else
typedef int pk_dsp_mm6_needs_dsp; /* ISO C wants a declaration */
#endif
