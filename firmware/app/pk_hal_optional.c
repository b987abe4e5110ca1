/* Weak defaults for the OPTIONAL part of pk_hal.h; a port overrides by defining them. */
#include "pk_hal.h"

#include "pk_wipe.h"

/*
 * Stack bytes below the caller that the default pk_hal_stack_scrub() zeroes: more than
 * the deepest per-frame call chain of the emulated boards (measured: see
 * firmware/README.md, "Boards and memory"), for ports that do not know where their
 * stack ends.
 */
#ifndef PK_HAL_STACK_SCRUB_BYTES
#define PK_HAL_STACK_SCRUB_BYTES 2048u
#endif

__attribute__((weak)) uint64_t pk_hal_insn_count(void)
{
    return 0; /* board has no instruction counter: STATS then reports 0 */
}

__attribute__((weak)) void pk_hal_watchdog_kick(void)
{
    /* board has no watchdog: nothing to restart */
}

/* noinline: its frame must lie below the caller's, where the area to wipe is. */
__attribute__((weak, noinline)) void pk_hal_stack_scrub(void)
{
    volatile uint8_t area[PK_HAL_STACK_SCRUB_BYTES];

    pk_wipe((void *)area, sizeof area);
}

__attribute__((weak)) int pk_hal_serial_read_byte(void)
{
    return -1; /* no receive path: HIL commands are never seen */
}
