/*
 * The board API: everything the portable app needs from a port, as flat functions.
 * A new port implements the REQUIRED block; the OPTIONAL block has weak defaults in
 * app/pk_hal_optional.c. Ports: ports/qemu_mps2 (emulator), ports/host (native).
 */
#ifndef PK_HAL_H
#define PK_HAL_H

#include <stddef.h>
#include <stdint.h>

#include "pk_format.h"

/* Status codes of pk_hal_camera_capture() and pk_hal_init(). */
enum {
    PK_HAL_OK = 0,
    PK_HAL_END_OF_FRAMES = 1,   /* HIL bank exhausted: not an error */
    PK_HAL_ERR_SOURCE = -1,     /* input source missing or invalid (bad bank magic...) */
    PK_HAL_ERR_FORMAT = -2,     /* requested/actual format not supported */
    PK_HAL_ERR_CAPACITY = -3,   /* frame larger than the caller's framebuffer */
};

/*
 * Exit statuses passed to pk_hal_exit(). 1 is left unused because QEMU itself exits
 * with 1 on its own errors; faults report PK_EXIT_FAULT_BASE + exception number.
 */
enum {
    PK_EXIT_OK = 0,
    PK_EXIT_INIT = 2,
    PK_EXIT_CAMERA = 3,
    PK_EXIT_PREPROCESS = 4,
    PK_EXIT_INVOKE = 5,
    PK_EXIT_LINK = 6,
    PK_EXIT_FAULT_BASE = 64,
};

/* ---- REQUIRED: every port implements these ---------------------------------------- */

/* Bring up clocks/UART/timer; argv is the host command line (argc 0 on bare metal). */
int pk_hal_init(int argc, char **argv);
/* Blocking write of len bytes (any value, 0x00 included) to the serial link. */
void pk_hal_serial_write(const uint8_t *data, size_t len);
/* Capture one frame into fb[0..capacity); fmt: in = wanted, out = actual. PK_HAL_* */
int pk_hal_camera_capture(uint8_t *fb, size_t capacity, pk_format *fmt);
/* Short ASCII board name for HELLO (at most 12 characters), e.g. "an386". */
const char *pk_hal_board_name(void);
/* Stop: HIL/host exit with status (0..255); production boards halt forever. */
void pk_hal_exit(int status) __attribute__((noreturn));

/* ---- OPTIONAL: weak defaults in app/pk_hal_optional.c ----------------------------- */

/* Monotonic executed-instruction count since init; 0 when the board cannot count. */
uint64_t pk_hal_insn_count(void);
/* Restart the watchdog countdown; called once per frame. Default: no watchdog. */
void pk_hal_watchdog_kick(void);
/* HIL builds only: one received serial byte (0..255) if one is waiting, else -1 at
 * once (never blocks). Default: -1 (no receive path). Production ports have none. */
int pk_hal_serial_read_byte(void);

#endif /* PK_HAL_H */
