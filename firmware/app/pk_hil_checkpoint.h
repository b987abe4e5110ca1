/* HIL-only debugger hook after each frame's wipe (see pk_hil_checkpoint_hil.c). */
#ifndef PK_HIL_CHECKPOINT_H
#define PK_HIL_CHECKPOINT_H

#include <stdint.h>

/*
 * Called once per frame, after every buffer that held the frame's pixels or activations
 * was wiped. seq: in, the frame's number (0 for the first). HIL builds only.
 */
void pk_hil_checkpoint(uint32_t seq);

#endif /* PK_HIL_CHECKPOINT_H */
