/* Int8 mean over height and width (TFLite MEAN over axes 1 and 2), as LiteRT's reference
 * computes it when input and output quantization differ: the sum minus count * input zero
 * point, requantized by a multiplier with 1/count folded in (compiler), plus the output
 * zero point, clamped to int8. */
#include "pk_engine.h"
#include "pk_requantize.h"

pk_status pk_mean_s8_ref(const pk_mean_params *p, const pk_dims *in_dims, const int8_t *in,
                         int8_t *out)
{
    if (!p || !in_dims || !in || !out) {
        return PK_ERR_ARG;
    }
    const int32_t ch = in_dims->c, count = in_dims->h * in_dims->w;
    for (int32_t c = 0; c < ch; c++) {
        int32_t sum = 0;
        for (int32_t i = 0; i < count; i++) {
            sum += in[i * ch + c];
        }
        const int32_t v = pk_requantize(sum - p->input_zero_point * count, p->multiplier,
                                        p->shift) + p->output_zero_point;
        out[c] = (int8_t)pk_clamp(v, -128, 127);
    }
    return PK_OK;
}
