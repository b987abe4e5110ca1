/* Scrubbing buffers that held pixels or activations (the owner wipes; see PROTOCOL.md). */
#ifndef PK_WIPE_H
#define PK_WIPE_H

#include <stddef.h>

/*
 * Zero n bytes at p in a way the compiler may not drop as a dead store.
 * p: in/out, any alignment; n: 0..SIZE_MAX (n == 0 does nothing; p may then be NULL).
 */
void pk_wipe(void *p, size_t n);

/*
 * Zero the caller-saved FPU and vector registers (s0-s15 = d0-d7 = q0-q3) and the sticky
 * status bits of FPSCR (cumulative exceptions, QC, NZCV; the mode bits stay), and on
 * Helium the predicate register VPR. Kernels leave activation values there after the
 * last layer, and a register outlives the wipe of every buffer (the privacy audit
 * compares them between runs). The callee-saved s16-s31 hold, between frames, only what
 * main holds: every function that uses them restores them. No-op without an FPU.
 */
void pk_wipe_fpu_registers(void);

#endif /* PK_WIPE_H */
