/* Weak defaults for the OPTIONAL part of pk_hal.h; a port overrides by defining them. */
#include "pk_hal.h"

__attribute__((weak)) uint64_t pk_hal_insn_count(void)
{
    return 0; /* board has no instruction counter: STATS then reports 0 */
}
