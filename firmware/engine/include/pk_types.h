/* Shared types of the Peekless int8 engine.
 *
 * Layouts follow TFLite: activations are [N, H, W, C] (N = 1), conv filters
 * [OC, KH, KW, IC], depthwise filters [1, KH, KW, IC * depth_multiplier],
 * fully-connected weights [OC, IC]. */
#ifndef PK_TYPES_H
#define PK_TYPES_H

#include <stddef.h>
#include <stdint.h>

/** Kernel return status: PK_OK or a negative error. */
typedef enum {
    PK_OK = 0,
    PK_ERR_ARG = -1,   /**< a NULL pointer or an impossible shape */
    PK_ERR_SHAPE = -2, /**< shapes that do not fit together */
} pk_status;

/** Tensor dimensions, Format: [N, H, W, C]. */
typedef struct {
    int32_t n, h, w, c;
} pk_dims;

/** Convolution geometry and zero points, fixed at compile time. */
typedef struct {
    int16_t stride_h, stride_w;     /**< >= 1 */
    int16_t pad_top, pad_left;      /**< taps above/left of the input, >= 0 */
    int16_t dilation_h, dilation_w; /**< >= 1 */
    int16_t depth_multiplier;       /**< depthwise only: output channels per input channel */
    int32_t input_zero_point;       /**< value that padded taps take, [-128, 127] */
    int32_t output_zero_point;      /**< added after requantization, [-128, 127] */
    int32_t act_min, act_max;       /**< fused activation clamp, within [-128, 127] */
} pk_conv_params;

/** Pooling geometry, fixed at compile time. */
typedef struct {
    int16_t stride_h, stride_w;
    int16_t pad_top, pad_left;
    int16_t filter_h, filter_w;
    int32_t act_min, act_max;
} pk_pool_params;

/** Softmax input scaling (beta * input scale as Q31 multiplier and left shift). */
typedef struct {
    int32_t input_multiplier;
    int32_t input_left_shift; /**< >= 0 */
    int32_t diff_min;         /**< differences from the row maximum below this give 0 */
} pk_softmax_params;

/** How a kernel rounds when it requantizes; TFLite's kernels differ (see pk_requantize.h). */
typedef enum {
    PK_ROUND_DOUBLE = 0, /**< two roundings: TFLite's MultiplyByQuantizedMultiplier default */
    PK_ROUND_SINGLE = 1, /**< one rounding of the 64-bit product */
} pk_rounding;

/** Per-output-channel requantization: real scale = multiplier * 2^(shift - 31). */
typedef struct {
    const int32_t *multiplier; /**< Q31, one per output channel */
    const int32_t *shift;      /**< [-31, 30], one per output channel */
    pk_rounding rounding;      /**< chosen by the compiler to match the reference kernel */
} pk_quant;

#endif /* PK_TYPES_H */
