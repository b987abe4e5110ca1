/* Peekless int8 engine: the kernels that generated model code calls.
 *
 * Every kernel exists as a portable reference, `<name>_ref`, always compiled and slow on
 * purpose: it is the specification. Optimized variants (`_dsp` for Cortex-M4/M7 with the
 * DSP extension, `_mve` for Cortex-M55 Helium) have the same signature and give the same
 * bytes for every input; pk_kernels.h binds the public name (without suffix) to the best
 * variant the target has, at build time. Generated code includes pk_kernels.h.
 *
 * Every kernel is bit-exact with TFLite's reference kernels (LiteRT BUILTIN_REF) for the
 * parameters the compiler gives it. Biases passed to convolution and fully-connected
 * kernels are *folded* by the compiler: bias[oc] - input_zero_point * sum(filter[oc]), so
 * that padded taps, which take the value input_zero_point, contribute nothing. Filter
 * arrays carry 8 zero bytes past their end (the compiler adds them): optimized kernels may
 * read up to 7 bytes past a filter row, where they multiply inputs known to be zero.
 *
 * Buffer overlap (what the memory planner relies on; every variant keeps it):
 *  - pk_conv2d_1x1_s8 reads all of a pixel's input before writing that pixel's output and
 *    walks pixels forward when oc <= ic (so the output may start at or before the input,
 *    out <= in) and backward when oc > ic (out >= in): no write lands on an input byte
 *    not yet read. out == in (in place) is always allowed.
 *  - pk_conv2d_s8, pk_depthwise_conv2d_s8, pk_avg_pool2d_s8 and pk_max_pool2d_s8 are
 *    row-streaming: they produce output rows in increasing order and, once any byte of
 *    output row oy is written, read no input row above oy * stride_h - pad_top. So the
 *    output may start `delta` bytes before the input (out = in + delta, delta <= 0)
 *    whenever, for every oy,
 *    out_row_bytes * (oy + 1) + delta <= in_row_bytes * max(0, oy * stride_h - pad_top)
 *    (compiler/planner.py computes the largest such delta).
 *  - Other kernels: output and input must not overlap.
 *
 * Row windows (what fused row-band execution, compiler/bands.py, relies on; every variant
 * keeps it): the compiler may call pk_conv2d_s8, pk_conv2d_1x1_s8, pk_depthwise_conv2d_s8,
 * pk_avg_pool2d_s8, pk_max_pool2d_s8 and pk_pad_s8 on a window of a tensor's rows:
 * in_dims->h is the window's rows, out_dims->h the output rows to make (any number >= 1,
 * not tied to in_dims->h by SAME/VALID arithmetic), pad_top the padded rows above the
 * window (0 <= pad_top <= the layer's own; pk_pad_s8 also gets pad_bottom). Input rows
 * at or past in_dims->h are padding, exactly as below a whole tensor; no kernel reads
 * outside rows [0, in_dims->h) of `in` or keeps state between calls. Pointwise windows
 * have in_dims->h == out_dims->h. A pk_pad_s8 window may have in_dims->h == 0.
 */
#ifndef PK_ENGINE_H
#define PK_ENGINE_H

#include "pk_types.h"

#define PK_ALIGN4(n) (((n) + 3) & ~3)
#define PK_ALIGN8(n) (((n) + 7) & ~7)

/** Scratch bytes pk_conv2d_1x1_s8 needs (any variant). */
#define PK_CONV2D_1X1_SCRATCH_BYTES(ic, oc) (4 * PK_ALIGN8(ic) + 8 * (oc))
/** Scratch bytes pk_conv2d_s8 needs (any variant). */
#define PK_CONV2D_SCRATCH_BYTES(kh, kw, ic, oc) (6 * PK_ALIGN8((kh) * (kw) * (ic)) + 8 * (oc))
/** Scratch bytes pk_depthwise_conv2d_s8 needs (any variant). */
#define PK_DEPTHWISE_CONV2D_SCRATCH_BYTES(kh, kw, ic, oc)                                      \
    (2 * (kh) * (kw) * PK_ALIGN4(oc) + PK_ALIGN4(ic) + 8 * (oc))

/**
 * @brief General 2-D convolution, int8 in/out, per-channel requantization.
 * @param[in]  ctx     scratch of PK_CONV2D_SCRATCH_BYTES(KH, KW, IC, OC) bytes
 * @param[in]  p       geometry, zero points and activation clamp
 * @param[in]  q       per-output-channel multiplier and shift (OC entries each)
 * @param[in]  in_dims input dims, Format: [1, IH, IW, IC]
 * @param[in]  in      input activations
 * @param[in]  filter_dims Format: [OC, KH, KW, IC]
 * @param[in]  filter  filter weights, symmetric int8
 * @param[in]  bias    folded bias, OC entries
 * @param[in]  out_dims Format: [1, OH, OW, OC]
 * @param[out] out     output activations; row-streaming (see the top of this file)
 * @return PK_OK, or PK_ERR_ARG on a NULL pointer or too little scratch
 */
pk_status pk_conv2d_s8_ref(const pk_ctx *ctx, const pk_conv_params *p, const pk_quant *q,
                           const pk_dims *in_dims, const int8_t *in, const pk_dims *filter_dims,
                           const int8_t *filter, const int32_t *bias, const pk_dims *out_dims,
                           int8_t *out);

/**
 * @brief 1x1 convolution with stride 1 and no padding (pointwise), a matrix product.
 * Same arguments as pk_conv2d_s8_ref; ctx: PK_CONV2D_1X1_SCRATCH_BYTES(IC, OC) bytes;
 * filter Format: [OC, 1, 1, IC]; in_dims h, w equal out_dims; out may equal in (in place).
 */
pk_status pk_conv2d_1x1_s8_ref(const pk_ctx *ctx, const pk_conv_params *p, const pk_quant *q,
                               const pk_dims *in_dims, const int8_t *in,
                               const pk_dims *filter_dims, const int8_t *filter,
                               const int32_t *bias, const pk_dims *out_dims, int8_t *out);

/**
 * @brief Depthwise 2-D convolution, any depth multiplier.
 * @param[in] ctx scratch of PK_DEPTHWISE_CONV2D_SCRATCH_BYTES(KH, KW, IC, OC) bytes
 * @param[in] filter_dims Format: [1, KH, KW, OC], OC = IC * p->depth_multiplier
 * Other arguments as pk_conv2d_s8_ref (row-streaming).
 */
pk_status pk_depthwise_conv2d_s8_ref(const pk_ctx *ctx, const pk_conv_params *p,
                                     const pk_quant *q, const pk_dims *in_dims, const int8_t *in,
                                     const pk_dims *filter_dims, const int8_t *filter,
                                     const int32_t *bias, const pk_dims *out_dims, int8_t *out);

/**
 * @brief Average pooling; input and output share scale and zero point. Row-streaming.
 * @param[in]  in_dims  Format: [1, IH, IW, C]
 * @param[in]  out_dims Format: [1, OH, OW, C]
 */
pk_status pk_avg_pool2d_s8_ref(const pk_pool_params *p, const pk_dims *in_dims,
                               const int8_t *in, const pk_dims *out_dims, int8_t *out);

/**
 * @brief Max pooling (padded taps not counted), then the activation clamp; input and
 * output share scale and zero point. Row-streaming.
 * @param[in]  in_dims  Format: [1, IH, IW, C]
 * @param[in]  out_dims Format: [1, OH, OW, C]
 */
pk_status pk_max_pool2d_s8_ref(const pk_pool_params *p, const pk_dims *in_dims,
                               const int8_t *in, const pk_dims *out_dims, int8_t *out);

/**
 * @brief Mean over height and width per channel (TFLite MEAN, axes 1 and 2).
 * @param[in]  in_dims Format: [1, H, W, C]
 * @param[out] out     C values, Format: [1, 1, 1, C]; must not overlap in
 */
pk_status pk_mean_s8_ref(const pk_mean_params *p, const pk_dims *in_dims, const int8_t *in,
                         int8_t *out);

/**
 * @brief Elementwise int8 addition of two tensors of the same shape (TFLite ADD).
 * @param[in]  count elements in each input and the output
 * @param[out] out   may equal in1 or in2 (each element is read before it is written)
 */
pk_status pk_add_s8_ref(const pk_add_params *p, int32_t count, const int8_t *in1,
                        const int8_t *in2, int8_t *out);

/**
 * @brief Concatenation along one axis (TFLite CONCATENATION, shared quantization).
 * @param[in]  n      number of inputs, >= 1
 * @param[in]  in     the inputs
 * @param[in]  inner  bytes of input i per outer slice (its dims from the axis on, multiplied)
 * @param[in]  outer  slices (the dims before the axis, multiplied)
 * @param[out] out    outer * sum(inner) bytes; must not overlap any input
 */
pk_status pk_concat_s8_ref(int32_t n, const int8_t *const *in, const int32_t *inner,
                           int32_t outer, int8_t *out);

/**
 * @brief Spatial padding (TFLite PAD/PADV2 over height and width).
 * @param[in]  in_dims  Format: [1, IH, IW, C]
 * @param[in]  out_dims Format: [1, IH + top + bottom, IW + left + right, C]
 * @param[out] out      must not overlap in
 * @return PK_OK, PK_ERR_ARG on a NULL pointer, PK_ERR_SHAPE on inconsistent dims
 */
pk_status pk_pad_s8_ref(const pk_pad_params *p, const pk_dims *in_dims, const int8_t *in,
                        const pk_dims *out_dims, int8_t *out);

/**
 * @brief Fully connected layer with per-output-channel requantization.
 * @param[in]  p       only input_zero_point (unused: folded), output_zero_point, act_min/max
 * @param[in]  q       OC multipliers and shifts (per-tensor models repeat one value)
 * @param[in]  in_dims  Format: [1, 1, 1, IC]
 * @param[in]  filter_dims Format: [OC, 1, 1, IC]
 * @param[in]  bias    folded bias, OC entries
 * @param[in]  out_dims Format: [1, 1, 1, OC]
 */
pk_status pk_fully_connected_s8_ref(const pk_conv_params *p, const pk_quant *q,
                                    const pk_dims *in_dims, const int8_t *in,
                                    const pk_dims *filter_dims, const int8_t *filter,
                                    const int32_t *bias, const pk_dims *out_dims, int8_t *out);

/**
 * @brief Softmax over the last dimension; output scale 1/256 and zero point -128.
 * @param[in]  dims Format: [N, H, W, C]; softmax runs over C for every (n, h, w)
 * @param[out] out  same shape as in; may not overlap in
 */
pk_status pk_softmax_s8_ref(const pk_softmax_params *p, const pk_dims *dims, const int8_t *in,
                            int8_t *out);

/* Optimized variants: same contracts as the _ref above. Declared for every target; each is
 * defined only where its instructions exist (pk_kernels.h picks among those). */
#define PK_DECLARE_CONV_VARIANT(name)                                                          \
    pk_status name(const pk_ctx *ctx, const pk_conv_params *p, const pk_quant *q,              \
                   const pk_dims *in_dims, const int8_t *in, const pk_dims *filter_dims,       \
                   const int8_t *filter, const int32_t *bias, const pk_dims *out_dims,         \
                   int8_t *out)
PK_DECLARE_CONV_VARIANT(pk_conv2d_s8_dsp);
PK_DECLARE_CONV_VARIANT(pk_conv2d_1x1_s8_dsp);
PK_DECLARE_CONV_VARIANT(pk_depthwise_conv2d_s8_dsp);
PK_DECLARE_CONV_VARIANT(pk_conv2d_s8_mve);
PK_DECLARE_CONV_VARIANT(pk_conv2d_1x1_s8_mve);
PK_DECLARE_CONV_VARIANT(pk_depthwise_conv2d_s8_mve);

#endif /* PK_ENGINE_H */
