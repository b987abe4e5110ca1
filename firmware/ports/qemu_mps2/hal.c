/* The always-present part of the QEMU MPS2 port: CMSDK UART0 serial and TIMER0 counter. */
#include "board.h"
#include "pk_hal.h"

/* CMSDK APB UART registers and bits. */
#define UART_DATA (PK_BOARD_UART0_BASE + 0x00u)
#define UART_STATE (PK_BOARD_UART0_BASE + 0x04u)
#define UART_CTRL (PK_BOARD_UART0_BASE + 0x08u)
#define UART_BAUDDIV (PK_BOARD_UART0_BASE + 0x10u)
#define UART_STATE_TX_FULL 0x1u
#define UART_CTRL_TX_EN 0x1u

/* CMSDK APB timer registers and bits. */
#define TIMER_CTRL (PK_BOARD_TIMER0_BASE + 0x00u)
#define TIMER_VALUE (PK_BOARD_TIMER0_BASE + 0x04u)
#define TIMER_RELOAD (PK_BOARD_TIMER0_BASE + 0x08u)
#define TIMER_CTRL_EN 0x1u

int pk_hal_init(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    /* QEMU ignores the rate but the CMSDK UART refuses to send with BAUDDIV < 16. */
    PK_REG32(UART_BAUDDIV) = 16u;
    PK_REG32(UART_CTRL) = UART_CTRL_TX_EN;

    /* Free-running down-counter over the full 32 bits; no interrupt. */
    PK_REG32(TIMER_CTRL) = 0;
    PK_REG32(TIMER_RELOAD) = 0xFFFFFFFFu;
    PK_REG32(TIMER_VALUE) = 0xFFFFFFFFu;
    PK_REG32(TIMER_CTRL) = TIMER_CTRL_EN;
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

/*
 * Instructions executed since pk_hal_init, exact to PK_BOARD_INSN_PER_TICK under
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
    return ((wraps << 32) + ticks) * PK_BOARD_INSN_PER_TICK;
}
