/* Peekless int8 engine: kernels whose constants the compiler lays out for them
 * (compiler/layout.py), so that the kernel loads them in the order it uses them and does no
 * per-call preparation (the compiler may call a kernel on a few rows at a time).
 *
 * A packed kernel computes exactly what its plain counterpart in pk_engine.h computes
 * (same signature, same buffer-overlap contract, bit-exact with LiteRT), for layers where
 * the compiler proved the fast requantization exact (pk_requant_fast_ok for every channel,
 * double rounding). Its `filter` holds, per output channel c, in order:
 *   K8 int8 weights, K8 = PK_ALIGN8(K) (K = IC for pointwise, KH * KW * IC for a general
 *   convolution, Format [KH, KW, IC]), zero past K;
 *   then 16 bytes of int32, little-endian, 4-byte aligned:
 *     2 * folded bias[c], multiplier[c], round[c] = 2^(e-1) + output_zp * 2^e, e = -shift[c]
 * so each row is K8 + 16 bytes. `bias`, `q->multiplier` and `q->shift` are not read (the
 * compiler passes one-element placeholders); q->rounding is PK_ROUND_DOUBLE and
 * p->act_min/act_max still clamp. Per channel the output is
 *   clamp(SSAT8(pk_requant_packed(2 * acc, multiplier, round, e)), act_min, act_max)
 * where acc = bias + sum(x * w) (pk_requantize.h).
 */
#ifndef PK_ENGINE_PACKED_H
#define PK_ENGINE_PACKED_H

#include <string.h>

#include "pk_engine.h"

/** Bytes of one packed filter row: the weights, padded to 8, and the 16-byte table. */
#define PK_PACKED_ROW_BYTES(k) (PK_ALIGN8(k) + 16)

/** Scratch bytes pk_conv2d_1x1_s8_packed needs (any variant): six pixels widened to int16
 * and six pixels of output for the last, partial block. */
#define PK_CONV2D_1X1_PACKED_SCRATCH_BYTES(ic, oc) (12 * PK_ALIGN8(ic) + PK_ALIGN4(6 * (oc)))

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

/* The per-channel table at the end of a packed row. */
typedef struct {
    int32_t bias2, multiplier, round, e;
} pk_packed_table;

/** Channel c's table in a packed filter with rows of `k` weights. */
static inline pk_packed_table pk_packed_table_of(const int8_t *filter, int32_t k, int32_t c)
{
    pk_packed_table r;
    memcpy(&r, filter + c * PK_PACKED_ROW_BYTES(k) + PK_ALIGN8(k), sizeof r);
    return r;
}

#endif /* PK_ENGINE_PACKED_H */
