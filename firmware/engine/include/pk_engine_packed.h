/* Peekless int8 engine: kernels whose constants the compiler lays out for them
 * (compiler/layout.py), so that the kernel loads them in the order it uses them and does no
 * per-call preparation (the compiler may call a kernel on a few rows at a time).
 *
 * A packed kernel computes exactly what its plain counterpart in pk_engine.h computes
 * (same signature, same buffer-overlap contract, bit-exact with LiteRT), for layers where
 * the compiler proved the fast requantization exact (pk_requant_fast_ok for every channel,
 * double rounding). Its `filter` holds, per output channel c, in order:
 *   K int8 weights, K = PK_PACKED_K_*(...) below: for pointwise PK_ALIGN4(IC) (IC weights,
 *   then zeros); for a general convolution PK_ALIGN4(KH * KW * IC), Format [KH, KW, IC],
 *   then zeros;
 *   then 16 bytes of int32, little-endian, 4-byte aligned:
 *     2 * folded bias[c], multiplier[c], round[c] = 2^(e-1) + output_zp * 2^e, e = -shift[c]
 * so each row is K + 16 bytes. `bias`, `q->multiplier` and `q->shift` are not read (the
 * compiler passes one-element placeholders); q->rounding is PK_ROUND_DOUBLE and
 * p->act_min/act_max still clamp. Per channel the output is
 *   clamp(SSAT8(pk_requant_packed(2 * acc, multiplier, round, e)), act_min, act_max)
 * where acc = bias + sum(x * w) (pk_requantize.h).
 */
#ifndef PK_ENGINE_PACKED_H
#define PK_ENGINE_PACKED_H

#include <string.h>

#include "pk_engine.h"

/** Packed weights per output channel: pointwise, general convolution. */
#define PK_PACKED_K_1X1(ic) PK_ALIGN4(ic)
#define PK_PACKED_K_CONV(kh, kw, ic) PK_ALIGN4((kh) * (kw) * (ic))

/** Bytes of one packed filter row of k weights (a multiple of 4) and the 16-byte table. */
#define PK_PACKED_ROW_BYTES(k) (PK_ALIGN4(k) + 16)

/** Scratch bytes pk_conv2d_1x1_s8_packed needs (any variant): six pixels widened to int16
 * and six pixels of output for the last, partial block. */
#define PK_CONV2D_1X1_PACKED_SCRATCH_BYTES(ic, oc) (12 * PK_ALIGN4(ic) + PK_ALIGN4(6 * (oc)))

/** Scratch bytes pk_conv2d_s8_packed needs (any variant): six receptive fields widened to
 * int16, one gathered (with a word to spare), and six pixels of output. */
#define PK_CONV2D_PACKED_SCRATCH_BYTES(kh, kw, ic, oc)                                         \
    (13 * PK_PACKED_K_CONV(kh, kw, ic) + 4 + PK_ALIGN4(6 * (oc)))

/**
 * @brief Pointwise convolution (1x1, stride 1, no padding) with a packed filter.
 * Arguments and contracts as pk_conv2d_1x1_s8_ref (out may equal in; pixels walked
 * forward when oc <= ic, backward otherwise), except: filter as described at the top of this
 * file, bias/multiplier/shift not read, ctx of PK_CONV2D_1X1_PACKED_SCRATCH_BYTES(IC, OC).
 */
pk_status pk_conv2d_1x1_s8_packed_ref(const pk_ctx *ctx, const pk_conv_params *p,
                                      const pk_quant *q, const pk_dims *in_dims,
                                      const int8_t *in, const pk_dims *filter_dims,
                                      const int8_t *filter, const int32_t *bias,
                                      const pk_dims *out_dims, int8_t *out);
PK_DECLARE_CONV_VARIANT(pk_conv2d_1x1_s8_packed_dsp);
PK_DECLARE_CONV_VARIANT(pk_conv2d_1x1_s8_packed_mve);

/**
 * @brief General 2-D convolution with a packed filter (rows of KH * KW * IC weights).
 * Arguments and contracts as pk_conv2d_s8_ref (row-streaming), except: filter as described
 * at the top of this file, bias/multiplier/shift not read, ctx of
 * PK_CONV2D_PACKED_SCRATCH_BYTES(KH, KW, IC, OC).
 */
pk_status pk_conv2d_s8_packed_ref(const pk_ctx *ctx, const pk_conv_params *p, const pk_quant *q,
                                  const pk_dims *in_dims, const int8_t *in,
                                  const pk_dims *filter_dims, const int8_t *filter,
                                  const int32_t *bias, const pk_dims *out_dims, int8_t *out);
PK_DECLARE_CONV_VARIANT(pk_conv2d_s8_packed_dsp);

/**
 * Packed depthwise filters (depth multiplier 1, channels a multiple of 4) come in groups
 * of 4 channels; group g (channels 4g..4g+3), PK_DW_GROUP_BYTES(taps) bytes, holds int32:
 *   bias2[4]          2 * folded bias
 *   w[taps][2]        taps in [KH, KW] order, each two int16 pairs of doubled weights:
 *                     (2 w[c0] | 2 w[c2] << 16), (2 w[c1] | 2 w[c3] << 16)
 *   {multiplier, round, e}[4]        per channel, as in the rows above
 * so that a kernel starts its accumulators at 2 * bias, adds products of doubled weights
 * and requantizes 2 * acc (pk_requant_packed) without a doubling step.
 */
#define PK_DW_GROUP_BYTES(taps) (16 + 8 * (taps) + 48)

/** Scratch bytes pk_depthwise_conv2d_s8_packed uses at full speed: the kh window rows of an
 * output row, widened to int16, column by column, for every group of 4 channels (kept from
 * one output row to the next, so that each input row is widened once). With c = 4 (one
 * group) it is the least the kernel accepts: it then widens every window row again for
 * every output row (+0.23 M instructions on MLPerf VWW, Cortex-M4). In between, the groups
 * that fit keep their rows (the DSP variant; the Helium one needs kh * cols * c bytes plus
 * eight pixels of slack, else it hands the call to the DSP one). */
#define PK_DEPTHWISE_PACKED_SCRATCH_BYTES(kh, kw, stride_w, dilation_w, ow, c)                 \
    (2 * (kh) * (((ow) - 1) * (stride_w) + ((kw) - 1) * (dilation_w) + 1) * (c))

/** Scratch bytes the Helium variant needs (else it hands the call to the DSP one): the kh
 * window rows of every channel, and slack for the up to 7 pixels past a row that a step of
 * eight reads. What the compiler gives by default: between the least and full speed. */
#define PK_DEPTHWISE_PACKED_MVE_SCRATCH_BYTES(kh, kw, stride_w, dilation_w, ow, c)             \
    (((kh) * (((ow) - 1) * (stride_w) + ((kw) - 1) * (dilation_w) + 1) + 8 * (stride_w)) * (c))

/**
 * @brief Depthwise convolution, depth multiplier 1, channels a multiple of 4, with a packed
 * filter (groups as above). Arguments and contracts as pk_depthwise_conv2d_s8_ref
 * (row-streaming), except: filter_dims [1, KH, KW, C] describe the logical filter, bias,
 * multiplier and shift are not read, ctx of at least PK_DEPTHWISE_PACKED_SCRATCH_BYTES(KH, KW,
 * stride_w, dilation_w, OW, 4) (and C instead of 4 for full speed).
 */
pk_status pk_depthwise_conv2d_s8_packed_ref(const pk_ctx *ctx, const pk_conv_params *p,
                                            const pk_quant *q, const pk_dims *in_dims,
                                            const int8_t *in, const pk_dims *filter_dims,
                                            const int8_t *filter, const int32_t *bias,
                                            const pk_dims *out_dims, int8_t *out);
PK_DECLARE_CONV_VARIANT(pk_depthwise_conv2d_s8_packed_dsp);
PK_DECLARE_CONV_VARIANT(pk_depthwise_conv2d_s8_packed_mve);

/* The per-channel table at the end of a packed row. */
typedef struct {
    int32_t bias2, multiplier, round, e;
} pk_packed_table;

/** Channel c's table in a packed filter with rows of `k` weights (PK_PACKED_K_*). */
static inline pk_packed_table pk_packed_table_of(const int8_t *filter, int32_t k, int32_t c)
{
    pk_packed_table r;
    memcpy(&r, filter + c * PK_PACKED_ROW_BYTES(k) + PK_ALIGN4(k), sizeof r);
    return r;
}

#endif /* PK_ENGINE_PACKED_H */
