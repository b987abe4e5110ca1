/*
 * A buffer that is wiped and never read again looks dead to the optimiser, and a plain
 * memset() of it may be removed (C11 memset_s and explicit_bzero exist for this reason;
 * C99 has neither). Writing through a volatile pointer forces every store, and the
 * empty asm with a "memory" clobber stops the compiler from moving later code across it.
 *
 * Whole words where the buffer is word-aligned (a quarter of the stores of a byte loop:
 * the app wipes its line buffer and the arena once per frame, in main.c, and the camera
 * ports wipe every row they hand over); the stores depend only on where the buffer is and
 * how long it is, never on what it holds.
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

void pk_wipe_fpu_registers(void)
{
#if defined(__ARM_FP) && defined(__thumb2__)
    unsigned int fpscr;

    __asm__ __volatile__("vmov d0, %0, %0\n\t"
                         "vmov d1, %0, %0\n\t"
                         "vmov d2, %0, %0\n\t"
                         "vmov d3, %0, %0\n\t"
                         "vmov d4, %0, %0\n\t"
                         "vmov d5, %0, %0\n\t"
                         "vmov d6, %0, %0\n\t"
                         "vmov d7, %0, %0"
                         :
                         : "r"(0u)
                         : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10",
                           "s11", "s12", "s13", "s14", "s15");
    /* Keep LTPSIZE, FZ16, RMode, FZ, DN, AHP (bits 16-19, 22-26); clear the rest. */
    __asm__ __volatile__("vmrs %0, fpscr" : "=r"(fpscr));
    fpscr &= 0x07CF0000u;
    __asm__ __volatile__("vmsr fpscr, %0" : : "r"(fpscr));
#if defined(__ARM_FEATURE_MVE)
    __asm__ __volatile__("vmsr p0, %0" : : "r"(0u));
#endif
#endif
}
