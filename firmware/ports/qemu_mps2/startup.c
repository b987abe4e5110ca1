/*
 * Reset and exception entry for Cortex-M under QEMU, in C: the vector table, enabling
 * the FPU before any C code that may use it, painting the stack, copying .data and
 * zeroing .bss.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "board.h"
#include "pk_hal.h"
#include "pk_stack.h"

/* Coprocessor Access Control: CP10/CP11 (the FPU) full access is bits 20..23. */
#define PK_SCB_CPACR 0xE000ED88u

/* Symbols from the linker script (mps2.ld, mps3_an547.ld). */
extern uint32_t pk_ld_data_start[], pk_ld_data_end[], pk_ld_data_load[];
extern uint32_t pk_ld_bss_start[], pk_ld_bss_end[], pk_ld_stack_top[];

int main(int argc, char **argv);
void pk_reset_handler(void) __attribute__((noreturn));
void pk_stack_paint_at_boot(void);
void pk_default_handler(void);
#if defined(PK_BOARD_SYSTICK_COUNTER)
void pk_systick_handler(void); /* hal.c: extends the 24-bit counter */
#define PK_SYSTICK_VECTOR {.handler = pk_systick_handler}
#else
#define PK_SYSTICK_VECTOR PK_D
#endif

/* Entry 0 is the initial stack pointer, the others are handlers. */
typedef union {
    void (*handler)(void);
    uint32_t *stack_top;
} pk_vector;

#define PK_D {.handler = pk_default_handler}
#define PK_D8 PK_D, PK_D, PK_D, PK_D, PK_D, PK_D, PK_D, PK_D

#if PK_BOARD_IRQ_COUNT != 32
#error "extend the IRQ part of pk_vectors for this board"
#endif

__attribute__((section(".vectors"), used)) const pk_vector pk_vectors[16 + 32] = {
    {.stack_top = pk_ld_stack_top},
    {.handler = pk_reset_handler},
    PK_D, /* 2 NMI */
    PK_D, /* 3 HardFault */
    PK_D, /* 4 MemManage */
    PK_D, /* 5 BusFault */
    PK_D, /* 6 UsageFault */
    PK_D, PK_D, PK_D, PK_D, /* 7..10 reserved */
    PK_D, /* 11 SVCall */
    PK_D, /* 12 DebugMonitor */
    PK_D, /* 13 reserved */
    PK_D, /* 14 PendSV */
    PK_SYSTICK_VECTOR, /* 15 SysTick */
    PK_D8, PK_D8, PK_D8, PK_D8, /* external interrupts 0..31: none are enabled */
};

/* Paint the stack below the caller (pk_stack.h), before .data and .bss exist. */
__attribute__((naked, noinline)) void pk_stack_paint_at_boot(void)
{
    __asm__ __volatile__(PK_STACK_PAINT_ASM);
}

void pk_reset_handler(void)
{
    /* FPU first: with -mfloat-abi=hard even memcpy or main's prologue may touch it. */
    PK_REG32(PK_SCB_CPACR) |= 0xFu << 20;
    __asm__ __volatile__("dsb\n\tisb" : : : "memory");

    /* Every stack word below here gets the paint, so the deepest word ever written can
     * be found afterwards (the stack's high-water mark, read back by the debugger). */
    pk_stack_paint_at_boot();

    memcpy(pk_ld_data_start, pk_ld_data_load,
           (size_t)((char *)pk_ld_data_end - (char *)pk_ld_data_start));
    memset(pk_ld_bss_start, 0, (size_t)((char *)pk_ld_bss_end - (char *)pk_ld_bss_start));

    pk_hal_exit(main(0, NULL));
}

/*
 * Every unexpected exception: stop with status PK_EXIT_FAULT_BASE + exception number
 * (HardFault = 3 -> 67), so a HIL run says which fault it was; production halts.
 */
void pk_default_handler(void)
{
    uint32_t ipsr;

    __asm__ __volatile__("mrs %0, ipsr" : "=r"(ipsr));
    pk_hal_exit(PK_EXIT_FAULT_BASE + (int)(ipsr & 0xFFu));
}
