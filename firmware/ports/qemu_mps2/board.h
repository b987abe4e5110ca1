/*
 * Every board-specific address and constant of the QEMU MPS2/MPS3 port, in one place.
 * The Makefile defines exactly one PK_BOARD_<NAME>. To add a board, add a block here,
 * a linker script if its memory map differs, a BOARD entry in the Makefile and one in
 * host_tools/emulator.py's BOARDS table; the facts are in ../shared/notes/emulator.md.
 */
#ifndef PK_BOARD_H
#define PK_BOARD_H

#include <stdint.h>

#if defined(PK_BOARD_AN386) /* mps2-an386: Cortex-M4F */
#define PK_BOARD_NAME "an386"
#define PK_BOARD_UART0_BASE 0x40004000u  /* CMSDK APB UART0 */
#define PK_BOARD_TIMER0_BASE 0x40000000u /* CMSDK APB TIMER0, 25 MHz */
/* -icount shift=0 runs one instruction per virtual ns: 1e9 / 25e6 = 40 per tick. */
#define PK_BOARD_INSN_PER_TICK_NUM 40u
#define PK_BOARD_INSN_PER_TICK_DEN 1u
/*
 * The camera window, outside the image (no linker section may use it): HIL images find
 * the frame bank there (preloaded by QEMU's loader device), production images the
 * emulated sensor that the host feeds over the debugger (docs/SENSOR.md).
 */
#define PK_BOARD_CAMERA_BASE 0x21000000u
#define PK_BOARD_CAMERA_BYTES (16u * 1024u * 1024u)
#define PK_BOARD_IRQ_COUNT 32 /* external interrupts in the vector table */

#elif defined(PK_BOARD_AN500) /* mps2-an500: Cortex-M7, double-precision FPU */
#define PK_BOARD_NAME "an500"
#define PK_BOARD_UART0_BASE 0x40004000u
#define PK_BOARD_TIMER0_BASE 0x40000000u /* CMSDK APB TIMER0, 25 MHz */
#define PK_BOARD_INSN_PER_TICK_NUM 40u
#define PK_BOARD_INSN_PER_TICK_DEN 1u
/* 0x21000000 is not RAM on an500: the camera window is the 16 MiB at 0x60000000. */
#define PK_BOARD_CAMERA_BASE 0x60000000u
#define PK_BOARD_CAMERA_BYTES (16u * 1024u * 1024u)
#define PK_BOARD_IRQ_COUNT 32

#elif defined(PK_BOARD_AN547) /* mps3-an547: Cortex-M55 with MVE (Helium) */
#define PK_BOARD_NAME "an547"
#define PK_BOARD_UART0_BASE 0x49303000u
/*
 * No CMSDK TIMER0: the instruction counter is SysTick on the 32 MHz processor clock, a
 * tick every 31.25 virtual ns, so 31.25 = 125/4 instructions per tick under -icount
 * shift=0 (checked by tests/test_boards.py against TIMER-counted boards).
 */
#define PK_BOARD_SYSTICK_COUNTER 1
#define PK_BOARD_INSN_PER_TICK_NUM 125u
#define PK_BOARD_INSN_PER_TICK_DEN 4u
/* The 4 MiB SRAM at 0x21000000 is only the camera window; code in ITCM, weights in QSPI. */
#define PK_BOARD_CAMERA_BASE 0x21000000u
#define PK_BOARD_CAMERA_BYTES (4u * 1024u * 1024u)
#define PK_BOARD_IRQ_COUNT 32 /* none is enabled; SysTick is a system exception */

#else
#error "define one PK_BOARD_<NAME> (see firmware/Makefile)"
#endif

/* The window's name in the HIL frame bank's readers (firmware/bench reads its inputs there). */
#define PK_BOARD_BANK_BASE PK_BOARD_CAMERA_BASE
#define PK_BOARD_BANK_BYTES PK_BOARD_CAMERA_BYTES

/* Memory-mapped 32-bit register at an absolute address. */
#define PK_REG32(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

#endif /* PK_BOARD_H */
