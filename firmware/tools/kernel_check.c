/* Kernel checker: every optimized variant against its _ref, bit for bit, on random shapes
 * and parameters, in every buffer layout the memory planner may give a kernel (separate,
 * in place, output starting before the input). Runs on the emulated boards
 * (tests/test_engine_variants.py builds it with compiler/bench/device.py).
 *
 * Output on UART0: "V <variant>", one "F ..." line per mismatch (kernel, case, byte,
 * reference, variant), then "R <cases> <failures>"; the exit status is 0 only without
 * failures. PK_CHECK_SEED and PK_CHECK_CASES (defines) pick the cases.
 *
 * Constant time (PK_CHECK_CONSTANT_TIME defined): after each comparison the variant and
 * the reference run again, each on CT_INPUTS very different inputs (zeros, +127, -128,
 * random) of the same case, between calls of bench_mark; the exact instruction counter
 * outside the guest (compiler/bench/insn_count.py) checks that the CT_INPUTS counts of
 * each run are equal. */
#include <stdint.h>
#include <string.h>

#include "bench_io.h" /* firmware/bench/ */
#include "pk_hal.h"
#include "pk_kernels.h"
#include "pk_requantize.h"

#ifndef PK_CHECK_SEED
#define PK_CHECK_SEED 1
#endif
#ifndef PK_CHECK_CASES
#define PK_CHECK_CASES 300
#endif

#define BUF_BYTES 24576
#define MAX_OC 64

typedef pk_status (*conv_fn)(const pk_ctx *, const pk_conv_params *, const pk_quant *,
                             const pk_dims *, const int8_t *, const pk_dims *, const int8_t *,
                             const int32_t *, const pk_dims *, int8_t *);

static uint32_t rng_state;
static int32_t failures;

#define CT_INPUTS 4

/* Watched by the instruction-count plugin: called around every timed kernel call. */
__attribute__((noinline)) void bench_mark(void)
{
    __asm__ volatile("" ::: "memory");
}

static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static int32_t rnd_in(int32_t lo, int32_t hi) /* inclusive */
{
    return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1));
}

static void put_int(int32_t v)
{
    if (v < 0) {
        put("-");
    }
    put_u64(v < 0 ? (uint64_t)(-(int64_t)v) : (uint64_t)v);
}

/* Buffers: arena_ref/arena_var hold input and output at the case's layout. */
static int8_t arena_ref[BUF_BYTES] __attribute__((aligned(16)));
static int8_t arena_var[BUF_BYTES] __attribute__((aligned(16)));
static int8_t scratch[8192] __attribute__((aligned(16)));
static int8_t filter[MAX_OC * 5 * 5 * 8] __attribute__((aligned(4)));
static int32_t bias[MAX_OC], mult[MAX_OC], shift[MAX_OC];

/* want_fast: quantization the packed kernels accept (pk_requant_fast_ok on every channel,
 * double rounding), as the compiler gives them. */
static void random_quant(pk_conv_params *p, pk_quant *q, int32_t oc, int32_t taps_per_oc,
                         int depthwise, int want_fast)
{
    p->input_zero_point = rnd_in(-128, 127);
    p->output_zero_point = rnd_in(-128, 127);
    if (rnd() % 2) {
        p->act_min = -128;
        p->act_max = 127;
    } else {
        p->act_min = rnd_in(-128, 0);
        p->act_max = rnd_in(p->act_min, 127);
    }
    /* sometimes biases and shifts off the fast path */
    const int32_t big = !want_fast && rnd() % 8 == 0;
    int64_t bound = 0;
    for (int32_t c = 0; c < oc; c++) {
        mult[c] = (int32_t)((1u << 30) + (rnd() & 0x3FFFFFFFu));
        shift[c] = big ? rnd_in(-31, 4) : rnd_in(-12, want_fast ? -1 : 1);
        bias[c] = big ? (int32_t)rnd() : rnd_in(-40000, 40000);
        int64_t sum = 0;
        for (int32_t t = 0; t < taps_per_oc; t++) {
            const int8_t w = depthwise ? filter[t * oc + c] : filter[c * taps_per_oc + t];
            sum += w < 0 ? -w : w;
        }
        const int64_t b = (bias[c] < 0 ? -(int64_t)bias[c] : bias[c]) + 128 * sum;
        bound = b > bound ? b : bound;
    }
    q->multiplier = mult;
    q->shift = shift;
    q->rounding = !want_fast && rnd() % 6 == 0 ? PK_ROUND_SINGLE : PK_ROUND_DOUBLE;
    if (q->rounding == PK_ROUND_SINGLE) {
        for (int32_t c = 0; c < oc; c++) {
            shift[c] = rnd_in(-20, 0); /* the single rounding needs 31 - shift < 63 */
        }
    }
    q->acc_abs_max = !want_fast && rnd() % 5 == 0 ? 0 : (bound < INT32_MAX ? (int32_t)bound : 0);
}

/* The packed filter (pk_engine_packed.h) of `filter` ([oc][kh][n]) and the quantization
 * above, as compiler/layout.py lays it out (each run of n weights padded to a word; kh = 1
 * for pointwise); 0 when a channel does not qualify. */
static int8_t packed[MAX_OC * PK_PACKED_ROW_BYTES(5 * 5 * 8)] __attribute__((aligned(8)));

static int pack_filter(int32_t oc, int32_t kh, int32_t n, const pk_conv_params *p,
                       const pk_quant *q)
{
    if (q->rounding != PK_ROUND_DOUBLE) {
        return 0;
    }
    const int32_t k = kh * PK_ALIGN4(n);
    for (int32_t c = 0; c < oc; c++) {
        if (!pk_requant_fast_ok(q->acc_abs_max, shift[c])) {
            return 0;
        }
        int8_t *row = packed + c * PK_PACKED_ROW_BYTES(k);
        memset(row, 0, (size_t)k);
        for (int32_t r = 0; r < kh; r++) {
            memcpy(row + r * PK_ALIGN4(n), filter + (c * kh + r) * n, (size_t)n);
        }
        const int32_t table[4] = {2 * bias[c], mult[c],
                                  pk_requant_fast_round(shift[c], p->output_zero_point),
                                  -shift[c]};
        memcpy(row + PK_ALIGN4(k), table, sizeof table);
    }
    return 1;
}

/* The packed depthwise filter (groups of 4 channels, pk_engine_packed.h) of `filter`
 * ([taps][ch]), as compiler/layout.py lays it out; 0 when a channel does not qualify. */
static int pack_depthwise(int32_t ch, int32_t taps, const pk_conv_params *p, const pk_quant *q)
{
    if (q->rounding != PK_ROUND_DOUBLE || (ch & 3)) {
        return 0;
    }
    for (int32_t g = 0; g < ch / 4; g++) {
        int8_t *grp = packed + g * PK_DW_GROUP_BYTES(taps);
        int32_t t[16];
        for (int32_t j = 0; j < 4; j++) {
            const int32_t c = 4 * g + j;
            if (!pk_requant_fast_ok(q->acc_abs_max, shift[c])) {
                return 0;
            }
            t[j] = 2 * bias[c];
            t[4 + 3 * j] = mult[c]; /* then {multiplier, round, e} per channel */
            t[5 + 3 * j] = pk_requant_fast_round(shift[c], p->output_zero_point);
            t[6 + 3 * j] = -shift[c];
        }
        memcpy(grp, t, 16);
        for (int32_t k = 0; k < taps; k++) {
            const int8_t *w = filter + k * ch + 4 * g;
            const int16_t w2[4] = {(int16_t)(2 * w[0]), (int16_t)(2 * w[2]), (int16_t)(2 * w[1]),
                                   (int16_t)(2 * w[3])};
            memcpy(grp + 16 + 8 * k, w2, 8);
        }
        memcpy(grp + 16 + 8 * taps, t + 4, 48);
    }
    return 1;
}

/* What a packed variant is given instead of the reference's constants. */
typedef struct {
    const int8_t *filter;
    int32_t scratch_bytes;
} packed_consts;

static const int32_t placeholder[1] = {0};

static void random_filter(int32_t n)
{
    const int dead = rnd() % 4 == 0;
    for (int32_t i = 0; i < n; i++) {
        filter[i] = (int8_t)rnd();
        if (dead && (i % 7 == 3)) {
            filter[i] = 0;
        }
    }
}

/* Run ref and variant on the same layout; compare the output regions. */
static void run_case(const char *name, int32_t index, conv_fn ref, conv_fn var,
                     const pk_conv_params *p, const pk_quant *q, const pk_dims *in_dims,
                     const pk_dims *filter_dims, const pk_dims *out_dims, int32_t in_off,
                     int32_t out_off, int32_t scratch_bytes, const packed_consts *pc)
{
    /* a packed variant reads its own filter; bias, multiplier and shift are placeholders */
    const pk_quant vq = {placeholder, placeholder, PK_ROUND_DOUBLE, q->acc_abs_max};
    const int8_t *const vfilter = pc ? pc->filter : filter;
    const int32_t *const vbias = pc ? placeholder : bias;
    const pk_quant *const vquant = pc ? &vq : q;
    const pk_ctx vctx = {scratch, pc ? pc->scratch_bytes : scratch_bytes};
    const int32_t in_bytes = in_dims->h * in_dims->w * in_dims->c;
    const int32_t out_bytes = out_dims->h * out_dims->w * out_dims->c;
    for (int32_t i = 0; i < BUF_BYTES; i++) {
        arena_ref[i] = (int8_t)rnd();
    }
    memcpy(arena_var, arena_ref, sizeof arena_var);
    const pk_ctx ctx = {scratch, scratch_bytes};
    memset(scratch, 0x5A, sizeof scratch);
    const pk_status s1 = ref(&ctx, p, q, in_dims, arena_ref + in_off, filter_dims, filter, bias,
                             out_dims, arena_ref + out_off);
    memset(scratch, 0xA5, sizeof scratch);
    const pk_status s2 = var(&vctx, p, vquant, in_dims, arena_var + in_off, filter_dims, vfilter,
                             vbias, out_dims, arena_var + out_off);
    if (s1 != PK_OK || s2 != PK_OK) {
        put("F ");
        put(name);
        put(" ");
        put_int(index);
        put(" status ");
        put_int(s1);
        put(" ");
        put_int(s2);
        put("\n");
        failures++;
        return;
    }
    for (int32_t i = 0; i < out_bytes; i++) {
        if (arena_ref[out_off + i] != arena_var[out_off + i]) {
            put("F ");
            put(name);
            put(" ");
            put_int(index);
            put(" byte ");
            put_int(i);
            put(" ref ");
            put_int(arena_ref[out_off + i]);
            put(" var ");
            put_int(arena_var[out_off + i]);
            put("\n");
            failures++;
            return;
        }
    }
#if defined(PK_CHECK_CONSTANT_TIME)
    for (int k = 0; k < 2; k++) { /* the variant, then the reference */
        for (int32_t n = 0; n < CT_INPUTS; n++) {
            for (int32_t i = 0; i < in_bytes; i++) {
                const int8_t fill[CT_INPUTS - 1] = {0, 127, -128};
                arena_var[in_off + i] = n < CT_INPUTS - 1 ? fill[n] : (int8_t)rnd();
            }
            __asm__ volatile("cpsid i" ::: "memory"); /* no timer interrupt in between */
            bench_mark();
            if (k) {
                ref(&ctx, p, q, in_dims, arena_var + in_off, filter_dims, filter, bias, out_dims,
                    arena_var + out_off);
            } else {
                var(&vctx, p, vquant, in_dims, arena_var + in_off, filter_dims, vfilter, vbias,
                    out_dims, arena_var + out_off);
            }
            bench_mark();
            __asm__ volatile("cpsie i" ::: "memory");
        }
    }
#else
    (void)in_bytes;
#endif
}

/* Largest delta <= 0 for a row-streaming kernel (pk_engine.h; planner.py's row_overlap). */
static int32_t row_delta(const pk_dims *in, const pk_dims *out, int32_t stride, int32_t pad)
{
    int32_t best = 0x7FFFFFFF;
    for (int32_t oy = 0; oy < out->h; oy++) {
        int32_t r = oy * stride - pad;
        r = r < 0 ? 0 : r;
        const int32_t d = r * in->w * in->c - (oy + 1) * out->w * out->c;
        best = d < best ? d : best;
    }
    return best & ~3; /* rounded down to a multiple of 4 (floor for negatives) */
}

/* Input/output offsets for one of the layouts: 0 separate, 1 overlapping (in place). */
static void layout(int overlap, int32_t in_bytes, int32_t out_bytes, int32_t delta,
                   int32_t *in_off, int32_t *out_off)
{
    if (!overlap) {
        *in_off = 16;
        *out_off = 16 + ((in_bytes + 15) & ~15);
        return;
    }
    const int32_t base = delta < 0 ? -delta + 16 : 16;
    *in_off = base;
    *out_off = base + delta;
    (void)out_bytes;
}

/* packed: var takes a packed filter (pk_engine_packed.h); the reference is always the
 * plain pk_conv2d_1x1_s8_ref, so the packing is checked too. */
static void check_pointwise(conv_fn var, int32_t index, int packed_var)
{
    const pk_dims in = {1, rnd_in(1, 6), rnd_in(1, 6), rnd_in(1, 80)};
    const pk_dims out = {1, in.h, in.w, rnd_in(1, 48)};
    const pk_dims fd = {out.c, 1, 1, in.c};
    random_filter(out.c * in.c);
    pk_conv_params p = {1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0};
    pk_quant q;
    random_quant(&p, &q, out.c, in.c, 0, packed_var);
    const packed_consts pc = {packed, PK_CONV2D_1X1_PACKED_SCRATCH_BYTES(in.c, out.c)};
    if (packed_var && !pack_filter(out.c, 1, in.c, &p, &q)) {
        put("F packing failed\n");
        failures++;
        return;
    }
    const int32_t pixels = in.h * in.w;
    const int overlap = rnd() % 2;
    int32_t in_off, out_off;
    /* in place: forward (oc <= ic) allows out <= in, backward out >= in */
    int32_t delta = 0;
    if (overlap && rnd() % 2) {
        delta = out.c <= in.c ? -4 * rnd_in(0, 4) : 4 * rnd_in(0, 4);
    }
    layout(overlap, pixels * in.c, pixels * out.c, delta, &in_off, &out_off);
    run_case(packed_var ? "conv2d_1x1_packed" : "conv2d_1x1", index, pk_conv2d_1x1_s8_ref, var,
             &p, &q, &in, &fd, &out, in_off, out_off, PK_CONV2D_1X1_SCRATCH_BYTES(in.c, out.c),
             packed_var ? &pc : NULL);
}

/* packed_var: var takes a packed filter; the reference is the plain one. */
static void check_conv(conv_fn var, int32_t index, int depthwise, int packed_var)
{
    /* half the packed cases are 3x3 without dilation: the shapes with their own code
     * (depthwise in assembly; first layers of 1 or 3 channels) */
    const int three = packed_var && rnd() % 2;
    const int32_t kh = three ? 3 : rnd_in(1, 5), kw = three ? 3 : rnd_in(1, 5);
    const int32_t sh = rnd_in(1, 2), sw = rnd_in(1, 2);
    const int32_t dh = !three && rnd() % 4 == 0 ? 2 : 1, dw = !three && rnd() % 4 == 0 ? 2 : 1;
    const int32_t ih = rnd_in(1, 10), iw = rnd_in(1, 10);
    const int32_t pt = rnd_in(0, kh - 1), pl = rnd_in(0, kw - 1);
    const int32_t ekh = (kh - 1) * dh + 1, ekw = (kw - 1) * dw + 1;
    const int32_t oh = (ih + 2 * pt - ekh) / sh + 1, ow = (iw + 2 * pl - ekw) / sw + 1;
    if (oh < 1 || ow < 1) {
        return;
    }
    pk_dims in = {1, ih, iw, 1}, out = {1, oh, ow, 1}, fd;
    pk_conv_params p = {(int16_t)sh, (int16_t)sw, (int16_t)pt, (int16_t)pl, (int16_t)dh,
                        (int16_t)dw, 1, 0, 0, 0, 0};
    pk_quant q;
    if (depthwise) {
        const int32_t mult = !packed_var && rnd() % 3 == 0 ? rnd_in(2, 3) : 1;
        in.c = packed_var || rnd() % 2 ? 4 * rnd_in(1, 5) : rnd_in(1, 12);
        out.c = in.c * mult;
        p.depth_multiplier = (int16_t)mult;
        fd = (pk_dims){1, kh, kw, out.c};
        random_filter(kh * kw * out.c);
        random_quant(&p, &q, out.c, kh * kw, 1, packed_var);
        if (packed_var && !pack_depthwise(out.c, kh * kw, &p, &q)) {
            put("F packing failed\n");
            failures++;
            return;
        }
    } else {
        in.c = three ? (rnd() % 2 ? 3 : 1) : rnd_in(1, 6);
        out.c = rnd_in(1, 12);
        fd = (pk_dims){out.c, kh, kw, in.c};
        random_filter(out.c * kh * kw * in.c);
        random_quant(&p, &q, out.c, kh * kw * in.c, 0, packed_var);
        if (packed_var && !pack_filter(out.c, 1, kh * kw * in.c, &p, &q)) {
            put("F packing failed\n");
            failures++;
            return;
        }
    }
    /* the packed depthwise kernel with the compiler's default scratch (what the Helium
     * variant needs, if more than the least), at the DSP variant's full speed, or with
     * scratch for fewer groups, down to the least it accepts (one group) */
    const int32_t pick = depthwise ? (int32_t)(rnd() % 3) : 0;
    const int32_t dw_least = PK_DEPTHWISE_PACKED_SCRATCH_BYTES(kh, kw, sw, dw, ow, 4);
    const int32_t dw_mve = PK_DEPTHWISE_PACKED_MVE_SCRATCH_BYTES(kh, kw, sw, dw, ow, out.c);
    const int32_t dw_groups = pick == 1 ? out.c : pick == 2 ? 4 * rnd_in(1, out.c / 4) : 4;
    const int32_t dw_bytes = pick == 0 ? (dw_mve > dw_least ? dw_mve : dw_least)
                                       : PK_DEPTHWISE_PACKED_SCRATCH_BYTES(kh, kw, sw, dw, ow,
                                                                           dw_groups);
    const packed_consts pc = {
        packed, depthwise ? dw_bytes : PK_CONV2D_PACKED_SCRATCH_BYTES(kh, kw, in.c, out.c)};
    const int32_t in_bytes = ih * iw * in.c, out_bytes = oh * ow * out.c;
    if (in_bytes + out_bytes + 64 > BUF_BYTES) {
        return;
    }
    const int overlap = rnd() % 2;
    int32_t in_off, out_off;
    layout(overlap, in_bytes, out_bytes, row_delta(&in, &out, sh, pt), &in_off, &out_off);
    if (depthwise) {
        run_case(packed_var ? "depthwise_packed" : "depthwise", index, pk_depthwise_conv2d_s8_ref,
                 var, &p, &q, &in, &fd, &out, in_off, out_off,
                 PK_DEPTHWISE_CONV2D_SCRATCH_BYTES(kh, kw, in.c, out.c), packed_var ? &pc : NULL);
    } else {
        run_case(packed_var ? "conv2d_packed" : "conv2d", index, pk_conv2d_s8_ref, var, &p, &q,
                 &in, &fd, &out, in_off, out_off, PK_CONV2D_SCRATCH_BYTES(kh, kw, in.c, out.c),
                 packed_var ? &pc : NULL);
    }
}

/* The plain kernels, then the packed ones. */
static int32_t check_variant(conv_fn pw, conv_fn conv, conv_fn dw, conv_fn pw_packed,
                             conv_fn conv_packed, conv_fn dw_packed)
{
    int32_t cases = 0;
    for (int32_t i = 0; i < PK_CHECK_CASES; i++, cases += 6) {
        check_pointwise(pw, i, 0);
        check_conv(conv, i, 0, 0);
        check_conv(dw, i, 1, 0);
        check_pointwise(pw_packed, i, 1);
        check_conv(conv_packed, i, 0, 1);
        check_conv(dw_packed, i, 1, 1);
    }
    return cases;
}

int main(int argc, char **argv)
{
    if (pk_hal_init(argc, argv) != PK_HAL_OK) {
        return PK_EXIT_INIT;
    }
    rng_state = 0x9E3779B9u ^ (uint32_t)PK_CHECK_SEED;
    int32_t cases = 0;
    /* the packed references against the plain ones */
    for (int32_t i = 0; i < PK_CHECK_CASES; i++, cases += 3) {
        check_pointwise(pk_conv2d_1x1_s8_packed_ref, i, 1);
        check_conv(pk_conv2d_s8_packed_ref, i, 0, 1);
        check_conv(pk_depthwise_conv2d_s8_packed_ref, i, 1, 1);
    }
#if defined(__ARM_FEATURE_DSP)
    put("V dsp\n");
    cases += check_variant(pk_conv2d_1x1_s8_dsp, pk_conv2d_s8_dsp, pk_depthwise_conv2d_s8_dsp,
                           pk_conv2d_1x1_s8_packed_dsp, pk_conv2d_s8_packed_dsp,
                           pk_depthwise_conv2d_s8_packed_dsp);
#endif
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
    put("V mve\n");
    cases += check_variant(pk_conv2d_1x1_s8_mve, pk_conv2d_s8_mve, pk_depthwise_conv2d_s8_mve,
                           pk_conv2d_1x1_s8_packed_mve, pk_conv2d_s8_packed_dsp,
                           pk_depthwise_conv2d_s8_packed_mve);
#endif
    put("R ");
    put_int(cases);
    put(" ");
    put_int(failures);
    put("\n");
    return failures ? 1 : 0;
}
