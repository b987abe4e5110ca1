/*
 * HIL builds only: the receive side of CMSDK UART0, polled, for host commands. Production
 * images do not contain it: their UART is transmit-only, nothing can be sent to them.
 */
#include "board.h"
#include "pk_hal.h"

#define UART_DATA (PK_BOARD_UART0_BASE + 0x00u)
#define UART_STATE (PK_BOARD_UART0_BASE + 0x04u)
#define UART_CTRL (PK_BOARD_UART0_BASE + 0x08u)
#define UART_STATE_RX_FULL 0x2u
#define UART_CTRL_RX_EN 0x2u

int pk_hal_serial_read_byte(void)
{
    static int enabled;

    if (!enabled) {
        PK_REG32(UART_CTRL) |= UART_CTRL_RX_EN;
        enabled = 1;
    }
    if ((PK_REG32(UART_STATE) & UART_STATE_RX_FULL) == 0) {
        return -1;
    }
    return (int)(PK_REG32(UART_DATA) & 0xFFu);
}
