/*
 * A buffer that is wiped and never read again looks dead to the optimiser, and a plain
 * memset() of it may be removed (C11 memset_s and explicit_bzero exist for this reason;
 * C99 has neither). Writing through a volatile pointer forces every store, and the
 * empty asm with a "memory" clobber stops the compiler from moving later code across it.
 *
 * Whole words where the buffer is word-aligned (a quarter of the stores of a byte loop:
 * the line buffer is wiped at every camera row, the arena at every frame); the stores
 * depend only on where the buffer is and how long it is, never on what it holds.
 */
#include "pk_wipe.h"

#include <stdint.h>

/* A word that may alias any object (the buffers wiped are declared as bytes). */
typedef uint32_t __attribute__((may_alias)) pk_wipe_word;

void pk_wipe(void *p, size_t n)
{
    volatile unsigned char *b = (volatile unsigned char *)p;

    while (n > 0 && ((uintptr_t)b & 3u) != 0) {
        *b++ = 0;
        n--;
    }
    volatile pk_wipe_word *w = (volatile pk_wipe_word *)b;
    for (; n >= 4; n -= 4) {
        *w++ = 0;
    }
    b = (volatile unsigned char *)w;
    while (n-- > 0) {
        *b++ = 0;
    }
    __asm__ __volatile__("" : : "r"(p) : "memory");
}
