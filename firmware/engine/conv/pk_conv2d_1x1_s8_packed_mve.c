/* Pointwise int8 convolution with a packed filter (pk_engine_packed.h) for Cortex-M55
 * (Helium), output channels a multiple of 4 (else the DSP variant): two pixels times four
 * filter rows at a time, in assembly (eight accumulators in the eight even registers
 * VMLADAVA takes). Per 16 inputs: one load of each pixel's inputs serves four rows, one load
 * of a row's weights serves both pixels: 6 loads and 8 VMLADAVA for 128 MACs. The four
 * channels of each pixel are then requantized as one vector (pk_requant_packed, lane by
 * lane) and stored with one narrowing store.
 *
 * The two pixels' inputs are first copied to scratch, 16 bytes of one then 16 of the other
 * (one pointer walks both), so the kernel runs in place, walking pixels forward when
 * oc <= ic and backward otherwise (pk_engine.h's overlap contract). */
#include <stddef.h>
#include <string.h>

#include "pk_engine_packed.h"

#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#include "pk_mve.h"

/* What the assembly reads (field order used there). */
typedef struct {
    const int8_t *x;  /* +0  the two pixels, interleaved by 16 bytes */
    const int8_t *w;  /* +4  first row */
    int32_t chunks;   /* +8  whole groups of 16 inputs */
    int32_t tail;     /* +12 inputs left over (0..15) */
    int32_t rb;       /* +16 bytes per packed row */
    int32_t k4;       /* +20 weights per packed row (the table follows) */
    int8_t *o0, *o1;  /* +24, +28 the pixels' outputs, channel 0 */
    int32_t quads;    /* +32 output channels / 4 */
    int32_t act_min;  /* +36 */
    int32_t act_max;  /* +40 */
} pw_args;

typedef char pw_args_layout_check[offsetof(pw_args, act_max) == 40 ? 1 : -1];

/* One row's 16 weights at Rw against both pixels (q0, q1) into A (pixel 0) and B. */
#define ROW(Rw, A, B)                                                                          \
    "vldrb.8     q2, [" Rw "], #16\n\t"                                                       \
    "vmladava.s8 " A ", q0, q2\n\t"                                                           \
    "vmladava.s8 " B ", q1, q2\n\t"

#define ROW_TAIL(Rw, A, B)                                                                     \
    "vpst\n\t"                                                                                \
    "vldrbt.8    q2, [" Rw "]\n\t"                                                            \
    "vmladava.s8 " A ", q0, q2\n\t"                                                           \
    "vmladava.s8 " B ", q1, q2\n\t"

/* Every quad of rows for one pair of pixels. Registers: accumulators r0, r2, r4, r6 (pixel
 * 0, rows 0..3) and r8, r10, r12, lr (pixel 1); x in r1, rows in r3, r5, r7, r9; r11 counts.
 * Stack: the arguments (44 bytes). q3: the four rows' table offsets {0, rb, 2rb, 3rb}. */
__attribute__((naked)) static void pairs_of_quads(const pw_args *a)
{
    (void)a;
    __asm__ volatile(
        "push   {r4-r11, lr}\n\t"
        "vpush  {d8-d15}\n\t"
        "sub    sp, sp, #48\n\t"
        "mov    r12, sp\n\t"
        "ldm    r0!, {r1-r7}\n\t"
        "stm    r12!, {r1-r7}\n\t"
        "ldm    r0, {r1-r4}\n\t"
        "stm    r12, {r1-r4}\n\t"
        "ldr    r1, [sp, #16]\n\t" /* q3 = {0, rb, 2 rb, 3 rb} */
        "movs   r0, #0\n\t"
        "add    r2, r1, r1\n\t"
        "add    r3, r2, r1\n\t"
        /* VMOV of two registers to two lanes: the first goes to the lower lane (checked on
         * QEMU by kernel_check) */
        "vmov   q3[2], q3[0], r0, r2\n\t"
        "vmov   q3[3], q3[1], r1, r3\n\t"
        "1:\n\t"
        "ldrd   r1, r3, [sp]\n\t" /* x, first row of the quad */
        "ldr    r11, [sp, #16]\n\t"
        "add    r5, r3, r11\n\t"
        "add    r7, r5, r11\n\t"
        "add    r9, r7, r11\n\t"
        "movs   r0, #0\n\t"
        "movs   r2, #0\n\t"
        "movs   r4, #0\n\t"
        "movs   r6, #0\n\t"
        "mov    r8, #0\n\t"
        "mov    r10, #0\n\t"
        "mov    r12, #0\n\t"
        "mov    lr, #0\n\t"
        "ldr    r11, [sp, #8]\n\t"
        "cmp    r11, #0\n\t"
        "beq    3f\n\t"
        "2:\n\t"
        "vldrb.8     q0, [r1], #16\n\t"
        "vldrb.8     q1, [r1], #16\n\t"
        ROW("r3", "r0", "r8") ROW("r5", "r2", "r10") ROW("r7", "r4", "r12") ROW("r9", "r6", "lr")
        "subs   r11, r11, #1\n\t"
        "bne    2b\n\t"
        "3:\n\t"
        "ldr    r11, [sp, #12]\n\t"
        "cmp    r11, #0\n\t"
        "beq    4f\n\t"
        "vctp.8 r11\n\t"
        "vpstt\n\t"
        "vldrbt.8    q0, [r1]\n\t"
        "vldrbt.8    q1, [r1, #16]\n\t"
        ROW_TAIL("r3", "r0", "r8") ROW_TAIL("r5", "r2", "r10") ROW_TAIL("r7", "r4", "r12")
        ROW_TAIL("r9", "r6", "lr")
        "4:\n\t"
        "vmov   q0[2], q0[0], r0, r4\n\t"
        "vmov   q0[3], q0[1], r2, r6\n\t"
        "vmov   q1[2], q1[0], r8, r12\n\t"
        "vmov   q1[3], q1[1], r10, lr\n\t"
        /* the quad's tables: 2 bias, multiplier, round, e at the end of each row */
        "ldr    r3, [sp, #4]\n\t"
        "ldr    r11, [sp, #20]\n\t"
        "add    r3, r3, r11\n\t"
        "vldrw.u32   q4, [r3, q3]\n\t"
        "adds   r3, #4\n\t"
        "vldrw.u32   q5, [r3, q3]\n\t"
        "adds   r3, #4\n\t"
        "vldrw.u32   q6, [r3, q3]\n\t"
        "adds   r3, #4\n\t"
        "vldrw.u32   q7, [r3, q3]\n\t"
        "vneg.s32    q7, q7\n\t"
        "vadd.i32    q0, q0, q0\n\t"
        "vadd.i32    q0, q0, q4\n\t"
        "vadd.i32    q1, q1, q1\n\t"
        "vadd.i32    q1, q1, q4\n\t"
        "vrmulh.s32  q2, q0, q5\n\t"
        "vrmulh.s32  q4, q1, q5\n\t"
        "vadd.i32    q2, q2, q6\n\t"
        "vadd.i32    q4, q4, q6\n\t"
        "vshr.s32    q0, q0, #31\n\t"
        "vshr.s32    q1, q1, #31\n\t"
        "vadd.i32    q2, q2, q0\n\t"
        "vadd.i32    q4, q4, q1\n\t"
        "vshl.s32    q2, q2, q7\n\t"
        "vshl.s32    q4, q4, q7\n\t"
        "ldrd   r0, r2, [sp, #36]\n\t" /* the activation range, which includes int8's */
        "vdup.32     q5, r0\n\t"
        "vdup.32     q6, r2\n\t"
        "vmax.s32    q2, q2, q5\n\t"
        "vmin.s32    q2, q2, q6\n\t"
        "vmax.s32    q4, q4, q5\n\t"
        "vmin.s32    q4, q4, q6\n\t"
        "ldrd   r0, r2, [sp, #24]\n\t"
        "vstrb.32    q2, [r0], #4\n\t"
        "vstrb.32    q4, [r2], #4\n\t"
        "strd   r0, r2, [sp, #24]\n\t"
        /* the next quad */
        "ldr    r3, [sp, #4]\n\t"
        "ldr    r11, [sp, #16]\n\t"
        "add    r3, r3, r11, lsl #2\n\t"
        "str    r3, [sp, #4]\n\t"
        "ldr    r11, [sp, #32]\n\t"
        "subs   r11, r11, #1\n\t"
        "str    r11, [sp, #32]\n\t"
        "bne    1b\n\t"
        "add    sp, sp, #48\n\t"
        "vpop   {d8-d15}\n\t"
        "pop    {r4-r11, pc}\n\t");
}

/* The two pixels' ic inputs into x, interleaved 16 bytes at a time. */
static void interleave(const int8_t *x0, const int8_t *x1, int32_t ic, int8_t *x)
{
    for (int32_t i = 0; i < ic; i += 16, x += 32) {
        const mve_pred16_t pr = vctp8q((uint32_t)(ic - i));
        vstrbq_p_s8(x, vldrbq_z_s8(x0 + i, pr), pr);
        vstrbq_p_s8(x + 16, vldrbq_z_s8(x1 + i, pr), pr);
    }
}

pk_status pk_conv2d_1x1_s8_packed_mve(const pk_ctx *ctx, const pk_conv_params *p,
                                      const pk_quant *q, const pk_dims *in_dims,
                                      const int8_t *in, const pk_dims *filter_dims,
                                      const int8_t *filter, const int32_t *bias,
                                      const pk_dims *out_dims, int8_t *out)
{
    if (!ctx || !p || !q || !in_dims || !in || !filter_dims || !filter || !out_dims || !out) {
        return PK_ERR_ARG;
    }
    const int32_t ic = in_dims->c, oc = out_dims->c;
    if (ctx->size < PK_CONV2D_1X1_PACKED_SCRATCH_BYTES(ic, oc)) {
        return PK_ERR_ARG;
    }
#if defined(__ARM_FEATURE_DSP)
    if (oc & 3) {
        return pk_conv2d_1x1_s8_packed_dsp(ctx, p, q, in_dims, in, filter_dims, filter, bias,
                                           out_dims, out);
    }
#endif
    (void)bias;
    int8_t *x = (int8_t *)ctx->buf; /* 2 * PK_ALIGN16(ic) bytes: within the scratch */
    pw_args a = {x, filter, ic / 16, ic % 16, PK_PACKED_ROW_BYTES(ic), PK_ALIGN4(ic), NULL,
                 NULL, oc / 4, p->act_min, p->act_max};
    const int32_t pixels = out_dims->h * out_dims->w, pairs = pixels / 2;
    const int backward = oc > ic;
    for (int32_t n = 0; n < pairs; n++) {
        const int32_t px = backward ? pixels - 2 - 2 * n : 2 * n;
        interleave(in + px * ic, in + (px + 1) * ic, ic, x);
        a.w = filter;
        a.o0 = out + px * oc;
        a.o1 = out + (px + 1) * oc;
        a.quads = oc / 4;
        pairs_of_quads(&a);
    }
    if (pixels & 1) { /* the odd pixel (computed twice): last forward, first backward */
        const int32_t px = backward ? 0 : pixels - 1;
        interleave(in + px * ic, in + px * ic, ic, x);
        a.w = filter;
        a.o0 = a.o1 = out + px * oc;
        a.quads = oc / 4;
        pairs_of_quads(&a);
    }
    return PK_OK;
}

#else
typedef int pk_conv2d_1x1_s8_packed_mve_needs_mve; /* ISO C wants a declaration */
#endif
