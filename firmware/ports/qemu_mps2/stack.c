/*
 * Stack painting for the emulated boards (pk_stack.h). pk_hal_stack_scrub() paints
 * everything below the caller's frame, not a guessed number of bytes, and the
 * instructions it takes depend only on where it is called from.
 *
 * Both functions are naked assembly that touch no stack: r0 walks from
 * pk_ld_stack_limit up to the stack pointer at the call, storing the paint. (In C the
 * compiler may save registers below the stack pointer it read, in the area being
 * painted: on the Cortex-M55 it saves lr for a low-overhead loop and the return address
 * got painted over.)
 */
#include "pk_hal.h"
#include "pk_stack.h"

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

__attribute__((naked, noinline)) void pk_stack_paint_at_boot(void)
{
    __asm__ __volatile__(PK_STACK_PAINT_ASM);
}

/* Called once per frame by the app; the debugger reads the stack back on entry. */
__attribute__((naked, noinline)) void pk_hal_stack_scrub(void)
{
    __asm__ __volatile__(PK_STACK_PAINT_ASM);
}

#if PK_STACK_PAINT != 0xA5A5A5A5u
#error "PK_STACK_PAINT_ASM stores 0xA5A5A5A5"
#endif
