/* Int8 fully-connected layer with per-output-channel requantization. */
#include "pk_engine.h"
#include "pk_requantize.h"

pk_status pk_fully_connected_s8_ref(const pk_conv_params *p, const pk_quant *q,
                                const pk_dims *in_dims, const int8_t *in,
                                const pk_dims *filter_dims, const int8_t *filter,
                                const int32_t *bias, const pk_dims *out_dims, int8_t *out)
{
    if (!p || !q || !in_dims || !in || !filter_dims || !filter || !bias || !out_dims || !out) {
        return PK_ERR_ARG;
    }
    const int32_t ic = filter_dims->c, oc = out_dims->c;
    for (int32_t c = 0; c < oc; c++) {
        const int8_t *w = filter + c * ic;
        int32_t acc = bias[c];
        for (int32_t i = 0; i < ic; i++) {
            acc += in[i] * w[i];
        }
        out[c] = pk_requantize_clamp(acc, q->multiplier[c], q->shift[c], q->rounding, p->output_zero_point,
                                     p->act_min, p->act_max);
    }
    return PK_OK;
}
