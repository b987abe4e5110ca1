/* Int8 elementwise addition of two tensors of one shape, as TFLite's reference ADD: both
 * inputs shifted left by 20 bits and rescaled to a common scale, summed, rescaled to the
 * output, plus its zero point, clamped to the activation range. */
#include "pk_engine.h"
#include "pk_requantize.h"

pk_status pk_add_s8_ref(const pk_add_params *p, int32_t count, const int8_t *in1,
                        const int8_t *in2, int8_t *out)
{
    if (!p || !in1 || !in2 || !out || count < 0) {
        return PK_ERR_ARG;
    }
    for (int32_t i = 0; i < count; i++) {
        const int32_t a = (int32_t)((uint32_t)(in1[i] - p->input1_zero_point) << p->left_shift);
        const int32_t b = (int32_t)((uint32_t)(in2[i] - p->input2_zero_point) << p->left_shift);
        const int32_t sum = pk_requantize(a, p->input1_multiplier, p->input1_shift) +
                            pk_requantize(b, p->input2_multiplier, p->input2_shift);
        const int32_t v = pk_requantize(sum, p->output_multiplier, p->output_shift) +
                          p->output_zero_point;
        out[i] = (int8_t)pk_clamp(v, p->act_min, p->act_max);
    }
    return PK_OK;
}
