/*
 * The stack of the emulated boards: PK_STACK_BYTES at the bottom of RAM
 * (pk_ld_stack_limit .. pk_ld_stack_top, from the linker script), so an overflow runs
 * into unmapped memory and faults instead of into .data and .bss. Startup paints it;
 * after each frame pk_hal_stack_scrub() paints again everything below the caller, which
 * both wipes what the frame's calls left there and keeps the paint intact, so the
 * lowest word that differs from the paint at any moment is the deepest the stack has
 * been since boot (host_tools/ram_usage.py reads it back through the debugger).
 */
#ifndef PK_STACK_H
#define PK_STACK_H

#include <stdint.h>

/* The paint: a value of one repeated byte, so a wiped stack holds no information. */
#define PK_STACK_PAINT 0xA5A5A5A5u

extern uint32_t pk_ld_stack_limit[], pk_ld_stack_top[];

/*
 * Paint [pk_ld_stack_limit, sp) at boot, before .data and .bss exist (stack.c). Like
 * pk_hal_stack_scrub() it is written in assembly: compiled C may push registers below
 * the stack pointer it read, into the area it paints.
 */
void pk_stack_paint_at_boot(void);

#endif /* PK_STACK_H */
