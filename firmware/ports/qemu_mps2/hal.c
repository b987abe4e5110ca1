/*
 * The always-present part of the QEMU MPS2/MPS3 port: CMSDK UART0 serial and the
 * instruction counter (CMSDK TIMER0 on mps2, SysTick on mps3-an547, which has none).
 */
#include "board.h"
#include "pk_hal.h"

/* CMSDK APB UART registers and bits. */
#define UART_DATA (PK_BOARD_UART0_BASE + 0x00u)
#define UART_STATE (PK_BOARD_UART0_BASE + 0x04u)
#define UART_CTRL (PK_BOARD_UART0_BASE + 0x08u)
#define UART_BAUDDIV (PK_BOARD_UART0_BASE + 0x10u)
#define UART_STATE_TX_FULL 0x1u
#define UART_CTRL_TX_EN 0x1u

#if defined(PK_BOARD_SYSTICK_COUNTER)
/* Armv7-M/v8-M SysTick: 24-bit down-counter; its wrap interrupt extends it. */
#define SYST_CSR 0xE000E010u
#define SYST_RVR 0xE000E014u
#define SYST_CVR 0xE000E018u
#define SYST_CSR_ENABLE 0x1u
#define SYST_CSR_TICKINT 0x2u
#define SYST_CSR_CLKSOURCE_CPU 0x4u
#define SYST_RELOAD 0x00FFFFFFu

static volatile uint32_t systick_wraps;

/* SysTick exception (vector 15): one more 2^24 ticks. */
void pk_systick_handler(void)
{
    systick_wraps = systick_wraps + 1u;
}
#else
/* CMSDK APB timer registers and bits. */
#define TIMER_CTRL (PK_BOARD_TIMER0_BASE + 0x00u)
#define TIMER_VALUE (PK_BOARD_TIMER0_BASE + 0x04u)
#define TIMER_RELOAD (PK_BOARD_TIMER0_BASE + 0x08u)
#define TIMER_CTRL_EN 0x1u
#endif

int pk_hal_init(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    /* QEMU ignores the rate but the CMSDK UART refuses to send with BAUDDIV < 16. */
    PK_REG32(UART_BAUDDIV) = 16u;
    PK_REG32(UART_CTRL) = UART_CTRL_TX_EN;

#if defined(PK_BOARD_SYSTICK_COUNTER)
    /* Processor clock, full 24-bit reload, interrupt on each wrap. */
    PK_REG32(SYST_CSR) = 0;
    PK_REG32(SYST_RVR) = SYST_RELOAD;
    PK_REG32(SYST_CVR) = 0; /* any write clears it; it reloads on the next tick */
    PK_REG32(SYST_CSR) = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE_CPU;
#else
    /* Free-running down-counter over the full 32 bits; no interrupt. */
    PK_REG32(TIMER_CTRL) = 0;
    PK_REG32(TIMER_RELOAD) = 0xFFFFFFFFu;
    PK_REG32(TIMER_VALUE) = 0xFFFFFFFFu;
    PK_REG32(TIMER_CTRL) = TIMER_CTRL_EN;
#endif
    return PK_HAL_OK;
}

void pk_hal_serial_write(const uint8_t *data, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        while (PK_REG32(UART_STATE) & UART_STATE_TX_FULL) {
        }
        PK_REG32(UART_DATA) = data[i];
    }
}

const char *pk_hal_board_name(void)
{
    return PK_BOARD_NAME;
}

#if defined(PK_BOARD_SYSTICK_COUNTER)
/*
 * Instructions executed since pk_hal_init under -icount shift=0, to a resolution of
 * PK_BOARD_INSN_PER_TICK_NUM / _DEN (virtual time otherwise). The wrap count is read on
 * both sides of the counter, so a wrap between the two reads is never half-counted.
 */
uint64_t pk_hal_insn_count(void)
{
    uint32_t wraps, value;

    do {
        wraps = systick_wraps;
        value = PK_REG32(SYST_CVR);
    } while (wraps != systick_wraps);
    const uint64_t ticks = (uint64_t)wraps * (SYST_RELOAD + 1u) + (SYST_RELOAD - value);
    return ticks * PK_BOARD_INSN_PER_TICK_NUM / PK_BOARD_INSN_PER_TICK_DEN;
}
#else
/*
 * Instructions executed since pk_hal_init, exact to PK_BOARD_INSN_PER_TICK_NUM under
 * -icount shift=0 (virtual time otherwise). The 32-bit timer wraps every 2^32 ticks
 * (about 172 G instructions); the wrap count is kept here, so calls must come at
 * least that often, which the per-frame loop does by a wide margin.
 */
uint64_t pk_hal_insn_count(void)
{
    static uint32_t last_ticks;
    static uint64_t wraps;
    const uint32_t ticks = 0xFFFFFFFFu - PK_REG32(TIMER_VALUE); /* counts up from 0 */

    if (ticks < last_ticks) {
        wraps += 1;
    }
    last_ticks = ticks;
    return ((wraps << 32) + ticks) * PK_BOARD_INSN_PER_TICK_NUM / PK_BOARD_INSN_PER_TICK_DEN;
}
#endif
