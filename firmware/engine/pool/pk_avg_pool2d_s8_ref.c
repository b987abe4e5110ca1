/* Int8 average pooling; padded taps are not counted, as in TFLite. */
#include "pk_engine.h"
#include "pk_requantize.h"

/*
 * Windows up to 65,536 taps. The rounded mean is computed as |acc| + count / 2 times a
 * reciprocal of count (exact: n * count <= 2^39 < 2^40 for n <= 128 * count), so no
 * instruction depends on the sign or size of a sum: a branch on the sign would change the
 * instruction count, and SDIV's cycle count depends on its operands on Cortex-M.
 */
#define PK_AVG_POOL_MAX_COUNT 65536
#define PK_AVG_POOL_RECIPROCAL_SHIFT 40

pk_status pk_avg_pool2d_s8_ref(const pk_pool_params *p, const pk_dims *in_dims, const int8_t *in,
                           const pk_dims *out_dims, int8_t *out)
{
    if (!p || !in_dims || !in || !out_dims || !out) {
        return PK_ERR_ARG;
    }
    const int32_t ih = in_dims->h, iw = in_dims->w, ch = in_dims->c;
    for (int32_t oy = 0; oy < out_dims->h; oy++) {
        const int32_t iy0 = oy * p->stride_h - p->pad_top;
        const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
        const int32_t ky1 = p->filter_h < ih - iy0 ? p->filter_h : ih - iy0;
        for (int32_t ox = 0; ox < out_dims->w; ox++) {
            const int32_t ix0 = ox * p->stride_w - p->pad_left;
            const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
            const int32_t kx1 = p->filter_w < iw - ix0 ? p->filter_w : iw - ix0;
            const int32_t count = (ky1 - ky0) * (kx1 - kx0);
            if (count <= 0 || count > PK_AVG_POOL_MAX_COUNT) {
                return PK_ERR_SHAPE;
            }
            /* ceil(2^40 / count): depends on the window's geometry only. */
            const uint64_t reciprocal =
                ((1ull << PK_AVG_POOL_RECIPROCAL_SHIFT) + (uint64_t)count - 1u) / (uint64_t)count;
            const uint32_t half = (uint32_t)count / 2u;
            for (int32_t c = 0; c < ch; c++) {
                int32_t acc = 0;
                for (int32_t ky = ky0; ky < ky1; ky++) {
                    const int8_t *row = in + ((iy0 + ky) * iw + ix0) * ch + c;
                    for (int32_t kx = kx0; kx < kx1; kx++) {
                        acc += row[kx * ch];
                    }
                }
                /* Round half away from zero, as TFLite does: (|acc| + count / 2) / count
                 * with acc's sign put back, without a branch or a divide. The empty asm
                 * keeps GCC from turning the sign mask back into a branch. */
                int32_t s = pk_sign_mask(acc);
                __asm__("" : "+r"(s));
                const uint32_t n = (uint32_t)((acc ^ s) - s) + half;
                const int32_t q = (int32_t)(((uint64_t)n * reciprocal) >> PK_AVG_POOL_RECIPROCAL_SHIFT);
                acc = (q ^ s) - s;
                *out++ = (int8_t)pk_min_ct(pk_max_ct(acc, p->act_min), p->act_max);
            }
        }
    }
    return PK_OK;
}
