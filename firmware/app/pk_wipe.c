/*
 * A buffer that is wiped and never read again looks dead to the optimiser, and a plain
 * memset() of it may be removed (C11 memset_s and explicit_bzero exist for this reason;
 * C99 has neither). Writing through a volatile pointer forces every store, and the
 * empty asm with a "memory" clobber stops the compiler from moving later code across it.
 */
#include "pk_wipe.h"

void pk_wipe(void *p, size_t n)
{
    volatile unsigned char *v = (volatile unsigned char *)p;

    while (n-- > 0) {
        *v++ = 0;
    }
    __asm__ __volatile__("" : : "r"(p) : "memory");
}
