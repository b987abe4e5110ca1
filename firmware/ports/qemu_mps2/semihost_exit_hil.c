/*
 * HIL builds stop the emulator with a status via Arm semihosting SYS_EXIT_EXTENDED, so
 * the test sees QEMU's exit code. Needs -semihosting-config enable=on; without it the
 * bkpt locks the core up and QEMU aborts. Production images do not contain this file.
 */
#include <stdint.h>

#include "pk_hal.h"

#define SEMIHOST_SYS_EXIT_EXTENDED 0x20u
#define SEMIHOST_ADP_STOPPED_APPLICATION_EXIT 0x20026u

void pk_hal_exit(int status)
{
    const uint32_t block[2] = {SEMIHOST_ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    register uint32_t r0 __asm__("r0") = SEMIHOST_SYS_EXIT_EXTENDED;
    register const uint32_t *r1 __asm__("r1") = block;

    __asm__ __volatile__("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    for (;;) {
        /* not reached when the debugger/emulator honours the call */
    }
}
