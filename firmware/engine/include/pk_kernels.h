/* Which variant of each kernel the public name (the one generated code calls) means.
 *
 * Chosen at build time from the target's features, most capable first:
 *   Helium/MVE (__ARM_FEATURE_MVE, Cortex-M55)   -> <name>_mve or <name>_dsp, whichever is
 *                                                   faster for that kernel (below)
 *   DSP extension (__ARM_FEATURE_DSP, M4/M7)     -> <name>_dsp where it exists
 *   anything else (host builds, Cortex-M0/M3)    -> <name>_ref
 * Every variant gives the same bytes as _ref (tests/test_engine_variants.py), so the choice
 * changes speed only. Define PK_KERNELS_REF to force the reference kernels everywhere (for
 * measuring what the optimized variants buy). */
#ifndef PK_KERNELS_H
#define PK_KERNELS_H

#include "pk_engine.h"
#include "pk_engine_packed.h"

#if !defined(PK_KERNELS_REF) && defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
/* Cortex-M55: per kernel, whichever executed fewer instructions on MLPerf VWW
 * (compiler/bench, mps3-an547): the DSP depthwise and general convolutions beat the MVE
 * ones (e.g. 0.83 M vs 1.28 M on the first depthwise layer), the MVE pointwise beats the
 * DSP one from 32 input channels up and hands narrower inputs to it. */
#define PK_KERNELS_VARIANT "mve"
#define pk_conv2d_s8 pk_conv2d_s8_dsp
#define pk_conv2d_1x1_s8 pk_conv2d_1x1_s8_mve
#define pk_depthwise_conv2d_s8 pk_depthwise_conv2d_s8_dsp
#define pk_conv2d_1x1_s8_packed pk_conv2d_1x1_s8_packed_mve
#define pk_conv2d_s8_packed pk_conv2d_s8_packed_dsp
#define pk_depthwise_conv2d_s8_packed pk_depthwise_conv2d_s8_packed_mve
#elif !defined(PK_KERNELS_REF) && defined(__ARM_FEATURE_DSP)
#define PK_KERNELS_VARIANT "dsp"
#define pk_conv2d_s8 pk_conv2d_s8_dsp
#define pk_conv2d_1x1_s8 pk_conv2d_1x1_s8_dsp
#define pk_depthwise_conv2d_s8 pk_depthwise_conv2d_s8_dsp
#define pk_conv2d_1x1_s8_packed pk_conv2d_1x1_s8_packed_dsp
#define pk_conv2d_s8_packed pk_conv2d_s8_packed_dsp
#define pk_depthwise_conv2d_s8_packed pk_depthwise_conv2d_s8_packed_dsp
#else
#define PK_KERNELS_VARIANT "ref"
#define pk_conv2d_s8 pk_conv2d_s8_ref
#define pk_conv2d_1x1_s8 pk_conv2d_1x1_s8_ref
#define pk_depthwise_conv2d_s8 pk_depthwise_conv2d_s8_ref
#define pk_conv2d_1x1_s8_packed pk_conv2d_1x1_s8_packed_ref
#define pk_conv2d_s8_packed pk_conv2d_s8_packed_ref
#define pk_depthwise_conv2d_s8_packed pk_depthwise_conv2d_s8_packed_ref
#endif

/* Kernels with a reference version only (small shares of the work). */
#define pk_avg_pool2d_s8 pk_avg_pool2d_s8_ref
#define pk_max_pool2d_s8 pk_max_pool2d_s8_ref
#define pk_pad_s8 pk_pad_s8_ref
#define pk_mean_s8 pk_mean_s8_ref
#define pk_add_s8 pk_add_s8_ref
#define pk_concat_s8 pk_concat_s8_ref
#define pk_fully_connected_s8 pk_fully_connected_s8_ref
#define pk_softmax_s8 pk_softmax_s8_ref

#endif /* PK_KERNELS_H */
