/* Peekless int8 engine: the kernels that generated model code calls.
 *
 * Every kernel is bit-exact with TFLite's reference kernels (LiteRT BUILTIN_REF) for the
 * parameters the compiler gives it. Biases passed to convolution and fully-connected
 * kernels are *folded* by the compiler: bias[oc] - input_zero_point * sum(filter[oc]), so
 * that padded taps, which take the value input_zero_point, contribute nothing. */
#ifndef PK_ENGINE_H
#define PK_ENGINE_H

#include "pk_types.h"

/**
 * @brief General 2-D convolution, int8 in/out, per-channel requantization.
 * @param[in]  p       geometry, zero points and activation clamp
 * @param[in]  q       per-output-channel multiplier and shift (OC entries each)
 * @param[in]  in_dims input dims, Format: [1, IH, IW, IC]
 * @param[in]  in      input activations
 * @param[in]  filter_dims Format: [OC, KH, KW, IC]
 * @param[in]  filter  filter weights, symmetric int8
 * @param[in]  bias    folded bias, OC entries
 * @param[in]  out_dims Format: [1, OH, OW, OC]
 * @param[out] out     output activations; must not overlap in
 * @return PK_OK, or PK_ERR_ARG on a NULL pointer
 */
pk_status pk_conv2d_s8(const pk_conv_params *p, const pk_quant *q, const pk_dims *in_dims,
                       const int8_t *in, const pk_dims *filter_dims, const int8_t *filter,
                       const int32_t *bias, const pk_dims *out_dims, int8_t *out);

/**
 * @brief 1x1 convolution with stride 1 and no padding (pointwise), a matrix product.
 * Same arguments as pk_conv2d_s8; filter Format: [OC, 1, 1, IC]; in_dims h, w equal out_dims.
 */
pk_status pk_conv2d_1x1_s8(const pk_conv_params *p, const pk_quant *q, const pk_dims *in_dims,
                           const int8_t *in, const pk_dims *filter_dims, const int8_t *filter,
                           const int32_t *bias, const pk_dims *out_dims, int8_t *out);

/**
 * @brief Depthwise 2-D convolution, any depth multiplier.
 * @param[in] filter_dims Format: [1, KH, KW, OC], OC = IC * p->depth_multiplier
 * Other arguments as pk_conv2d_s8.
 */
pk_status pk_depthwise_conv2d_s8(const pk_conv_params *p, const pk_quant *q,
                                 const pk_dims *in_dims, const int8_t *in,
                                 const pk_dims *filter_dims, const int8_t *filter,
                                 const int32_t *bias, const pk_dims *out_dims, int8_t *out);

/**
 * @brief Average pooling; input and output share scale and zero point.
 * @param[in]  in_dims  Format: [1, IH, IW, C]
 * @param[in]  out_dims Format: [1, OH, OW, C]
 */
pk_status pk_avg_pool2d_s8(const pk_pool_params *p, const pk_dims *in_dims, const int8_t *in,
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
pk_status pk_fully_connected_s8(const pk_conv_params *p, const pk_quant *q,
                                const pk_dims *in_dims, const int8_t *in,
                                const pk_dims *filter_dims, const int8_t *filter,
                                const int32_t *bias, const pk_dims *out_dims, int8_t *out);

/**
 * @brief Softmax over the last dimension; output scale 1/256 and zero point -128.
 * @param[in]  dims Format: [N, H, W, C]; softmax runs over C for every (n, h, w)
 * @param[out] out  same shape as in; may not overlap in
 */
pk_status pk_softmax_s8(const pk_softmax_params *p, const pk_dims *dims, const int8_t *in,
                        int8_t *out);

#endif /* PK_ENGINE_H */
