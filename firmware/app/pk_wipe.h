/* Scrubbing buffers that held pixels or activations (the owner wipes; see PROTOCOL.md). */
#ifndef PK_WIPE_H
#define PK_WIPE_H

#include <stddef.h>

/*
 * Zero n bytes at p in a way the compiler may not drop as a dead store.
 * p: in/out, any alignment; n: 0..SIZE_MAX (n == 0 does nothing; p may then be NULL).
 */
void pk_wipe(void *p, size_t n);

#endif /* PK_WIPE_H */
