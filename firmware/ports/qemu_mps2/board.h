/*
 * Every board-specific address and constant of the QEMU MPS2/MPS3 port, in one place.
 * The Makefile defines exactly one PK_BOARD_<NAME>. To add a board (mps2-an500,
 * mps3-an547), add a block here, a linker script if its memory map differs, and a
 * BOARD entry in the Makefile; the facts are in /work/shared/notes/emulator.md.
 */
#ifndef PK_BOARD_H
#define PK_BOARD_H

#include <stdint.h>

#if defined(PK_BOARD_AN386) /* mps2-an386: Cortex-M4F */
#define PK_BOARD_NAME "an386"
#define PK_BOARD_UART0_BASE 0x40004000u  /* CMSDK APB UART0 */
#define PK_BOARD_TIMER0_BASE 0x40000000u /* CMSDK APB TIMER0, 25 MHz */
/* -icount shift=0 runs one instruction per virtual ns: 1e9 / 25e6 = 40 per tick. */
#define PK_BOARD_INSN_PER_TICK 40u
/* HIL frame bank preloaded by QEMU's loader device; no linker section may use it. */
#define PK_BOARD_BANK_BASE 0x21000000u
#define PK_BOARD_BANK_BYTES (16u * 1024u * 1024u)
#define PK_BOARD_IRQ_COUNT 32 /* external interrupts in the vector table */
#else
#error "define one PK_BOARD_<NAME> (see firmware/Makefile)"
#endif

/* Memory-mapped 32-bit register at an absolute address. */
#define PK_REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#endif /* PK_BOARD_H */
