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

/** Spatial padding of PAD/PADV2, fixed at compile time. */
typedef struct {
    int16_t pad_top, pad_bottom, pad_left, pad_right; /**< >= 0 */
    int8_t value;                                     /**< what the new positions hold */
} pk_pad_params;

/** ADD of two int8 tensors: TFLite's rescaling to a common scale, fixed at compile time. */
typedef struct {
    int32_t left_shift;                          /**< 20 in TFLite */
    int32_t input1_zero_point, input2_zero_point; /**< subtracted before the shift */
    int32_t input1_multiplier, input1_shift;      /**< Q31, shift <= 0 */
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t output_zero_point;
    int32_t act_min, act_max; /**< fused activation clamp */
} pk_add_params;

/** MEAN over height and width: requantization with 1 / (H * W) folded in. */
typedef struct {
    int32_t multiplier;        /**< Q31 */
    int32_t shift;             /**< [-31, 30] */
    int32_t input_zero_point;  /**< [-128, 127] */
    int32_t output_zero_point; /**< [-128, 127] */
} pk_mean_params;

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
    const int32_t *multiplier; /**< Q31 in [0, 2^31), one per output channel */
    const int32_t *shift;      /**< [-31, 30], one per output channel */
    pk_rounding rounding;      /**< chosen by the compiler to match the reference kernel */
    /**
     * A bound on |accumulator| (folded bias plus all products) over every possible input,
     * computed by the compiler; 0 = unknown. Optimized kernels use it to prove that their
     * faster requantization is exact (see pk_requant_fast_ok); results never depend on it.
     */
    int32_t acc_abs_max;
} pk_quant;

/**
 * Working memory for one kernel call, planned by the compiler inside the arena (so it is
 * counted in the arena and wiped with it). Each kernel's header entry says how much it
 * needs (PK_*_SCRATCH_BYTES); a kernel given less returns PK_ERR_ARG.
 */
typedef struct {
    void *buf;    /**< 4-byte aligned; NULL only when size is 0 */
    int32_t size; /**< bytes */
} pk_ctx;

#endif /* PK_TYPES_H */
