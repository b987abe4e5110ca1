/*
 * pk_hal_stack_scrub() for the emulated boards (pk_stack.h): everything below the
 * caller's frame is painted again, not a guessed number of bytes, and the instructions
 * it takes depend only on where it is called from.
 */
#include "pk_hal.h"
#include "pk_stack.h"

/* Called once per frame by the app; the debugger reads the stack back on entry. */
__attribute__((naked, noinline)) void pk_hal_stack_scrub(void)
{
    __asm__ __volatile__(PK_STACK_PAINT_ASM);
}
