/*
 * HIL builds only: a fixed place where every frame's wipe is complete, for the RAM
 * read-back of the privacy tests. main() calls pk_hil_checkpoint(seq) after frame seq's
 * buffers were wiped and before the next capture; a debugger breaks on this symbol
 * (host_tools/gdb_rsp.py sets a Z0 breakpoint at its address from arm-none-eabi-nm) and
 * reads RAM back. It does nothing else; production images do not contain it.
 */
#include "pk_hil_checkpoint.h"

__attribute__((noinline, used)) void pk_hil_checkpoint(uint32_t seq)
{
    /* Keeps the call and its argument: the optimiser may not treat it as empty. */
    __asm__ __volatile__("" : : "r"(seq) : "memory");
}
