/* Pointwise (1x1, stride 1, no padding) int8 convolution: a [P x IC] x [IC x OC] product.
 * Two pixels by two output channels per step so every loaded byte is used twice. */
#include "pk_engine.h"
#include "pk_requantize.h"

static inline int8_t finish(int32_t acc, const pk_conv_params *p, const pk_quant *q, int32_t c)
{
    return pk_requantize_clamp(acc, q->multiplier[c], q->shift[c], q->rounding, p->output_zero_point,
                               p->act_min, p->act_max);
}

pk_status pk_conv2d_1x1_s8(const pk_conv_params *p, const pk_quant *q, const pk_dims *in_dims,
                           const int8_t *in, const pk_dims *filter_dims, const int8_t *filter,
                           const int32_t *bias, const pk_dims *out_dims, int8_t *out)
{
    if (!p || !q || !in_dims || !in || !filter_dims || !filter || !bias || !out_dims || !out) {
        return PK_ERR_ARG;
    }
    const int32_t ic = in_dims->c, oc = out_dims->c;
    const int32_t pixels = out_dims->h * out_dims->w;
    int32_t px = 0;
    for (; px + 1 < pixels; px += 2) {
        const int8_t *x0 = in + px * ic;
        const int8_t *x1 = x0 + ic;
        int8_t *o0 = out + px * oc;
        int8_t *o1 = o0 + oc;
        int32_t c = 0;
        for (; c + 1 < oc; c += 2) {
            const int8_t *f0 = filter + c * ic;
            const int8_t *f1 = f0 + ic;
            int32_t a00 = bias[c], a01 = bias[c + 1], a10 = bias[c], a11 = bias[c + 1];
            for (int32_t i = 0; i < ic; i++) {
                const int32_t v0 = x0[i], v1 = x1[i], w0 = f0[i], w1 = f1[i];
                a00 += v0 * w0;
                a01 += v0 * w1;
                a10 += v1 * w0;
                a11 += v1 * w1;
            }
            o0[c] = finish(a00, p, q, c);
            o0[c + 1] = finish(a01, p, q, c + 1);
            o1[c] = finish(a10, p, q, c);
            o1[c + 1] = finish(a11, p, q, c + 1);
        }
        for (; c < oc; c++) {
            const int8_t *f0 = filter + c * ic;
            int32_t a0 = bias[c], a1 = bias[c];
            for (int32_t i = 0; i < ic; i++) {
                a0 += x0[i] * f0[i];
                a1 += x1[i] * f0[i];
            }
            o0[c] = finish(a0, p, q, c);
            o1[c] = finish(a1, p, q, c);
        }
    }
    for (; px < pixels; px++) {
        const int8_t *x0 = in + px * ic;
        for (int32_t c = 0; c < oc; c++) {
            const int8_t *f0 = filter + c * ic;
            int32_t a0 = bias[c];
            for (int32_t i = 0; i < ic; i++) {
                a0 += x0[i] * f0[i];
            }
            out[px * oc + c] = finish(a0, p, q, c);
        }
    }
    return PK_OK;
}
