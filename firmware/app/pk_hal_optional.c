/* Weak defaults for the OPTIONAL part of pk_hal.h; a port overrides by defining them. */
#include "pk_hal.h"

__attribute__((weak)) uint64_t pk_hal_insn_count(void)
{
    return 0; /* board has no instruction counter: STATS then reports 0 */
}

__attribute__((weak)) void pk_hal_watchdog_kick(void)
{
    /* board has no watchdog: nothing to restart */
}

__attribute__((weak)) int pk_hal_serial_read_byte(void)
{
    return -1; /* no receive path: HIL commands are never seen */
}
