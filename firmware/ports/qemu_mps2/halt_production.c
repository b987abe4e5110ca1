/* Production images have nowhere to exit to: mask interrupts and sleep forever. */
#include "pk_hal.h"

void pk_hal_exit(int status)
{
    (void)status;
    __asm__ __volatile__("cpsid i" : : : "memory");
    for (;;) {
        __asm__ __volatile__("wfi");
    }
}
