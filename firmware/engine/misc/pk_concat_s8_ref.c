/* Int8 concatenation along one axis (TFLite CONCATENATION; int8 inputs and output share
 * one quantization, so it moves bytes only): for each of `outer` slices, the inputs' runs
 * of inner[i] bytes one after another. */
#include <string.h>

#include "pk_engine.h"

pk_status pk_concat_s8_ref(int32_t n, const int8_t *const *in, const int32_t *inner,
                           int32_t outer, int8_t *out)
{
    if (!in || !inner || !out || n < 1 || outer < 0) {
        return PK_ERR_ARG;
    }
    for (int32_t o = 0; o < outer; o++) {
        for (int32_t i = 0; i < n; i++) {
            if (!in[i]) {
                return PK_ERR_ARG;
            }
            memcpy(out, in[i] + (size_t)o * (size_t)inner[i], (size_t)inner[i]);
            out += inner[i];
        }
    }
    return PK_OK;
}
