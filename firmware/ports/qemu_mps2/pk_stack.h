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
 * The body of a naked function that paints [pk_ld_stack_limit, sp at the call) and
 * returns, touching no stack: r0 walks up from the limit storing the paint. Assembly,
 * because compiled C may save registers below the stack pointer it read, in the area
 * being painted (on the Cortex-M55 GCC saved lr for a low-overhead loop there and the
 * return address got painted over). Used by startup.c (pk_stack_paint_at_boot) and
 * stack.c (pk_hal_stack_scrub).
 */
#define PK_STACK_PAINT_ASM                                                                 \
    "ldr r0, =pk_ld_stack_limit\n\t"                                                       \
    "mov r1, sp\n\t"                                                                       \
    "ldr r2, =0xA5A5A5A5\n"                                                                \
    "1:\n\t"                                                                               \
    "cmp r0, r1\n\t"                                                                       \
    "bhs 2f\n\t"                                                                           \
    "str r2, [r0], #4\n\t"                                                                 \
    "b 1b\n"                                                                               \
    "2:\n\t"                                                                               \
    "bx lr\n\t"                                                                            \
    ".ltorg\n"

#if PK_STACK_PAINT != 0xA5A5A5A5u
#error "PK_STACK_PAINT_ASM stores 0xA5A5A5A5"
#endif

#endif /* PK_STACK_H */
