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

/* Status codes of the camera functions and pk_hal_init(). */
enum {
    PK_HAL_OK = 0,
    PK_HAL_END_OF_FRAMES = 1,   /* HIL bank exhausted: not an error */
    PK_HAL_ERR_SOURCE = -1,     /* input source missing or invalid (bad bank magic...) */
    PK_HAL_ERR_FORMAT = -2,     /* requested/actual format not supported */
    PK_HAL_ERR_CAPACITY = -3,   /* rows larger than the caller's line buffer, or more
                                 * rows asked for than the frame has left */
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
/*
 * Camera: one frame at a time, delivered a few rows at a time into the caller's small
 * line buffer (after Zephyr's video API; the way DCMI/DVP DMA, OV767x FIFOs and
 * esp32-camera's line mode work). The whole frame is never in the app's RAM. Per frame:
 * begin, read_rows until every row was read, end.
 */
/*
 * Start a frame. fmt: in = what the app asks for (width, height, pixfmt; a source that
 * decides the format itself, like the HIL bank, ignores it); out = the frame's actual
 * format, pitch = width * bytes per pixel.
 * @retval PK_HAL_OK             a frame is ready: read its rows
 * @retval PK_HAL_END_OF_FRAMES  HIL only: no frames left
 * @retval PK_HAL_ERR_SOURCE     no camera/bank, or it is invalid
 * @retval PK_HAL_ERR_FORMAT     the frame's (or the asked-for) format is unsupported
 */
int pk_hal_camera_begin(pk_format *fmt);
/*
 * Copy the frame's next nrows rows (nrows >= 1), tightly packed, into
 * dst[0 .. nrows * pitch). The driver keeps no copy of rows it delivered: like a FIFO,
 * what was read is gone.
 * @retval PK_HAL_OK
 * @retval PK_HAL_ERR_CAPACITY  nrows * pitch > capacity, or fewer than nrows rows left
 * @retval PK_HAL_ERR_SOURCE   no frame begun, or the source failed
 */
int pk_hal_camera_read_rows(uint8_t *dst, size_t capacity, uint16_t nrows);
/*
 * End the frame: drop the rows not read and wipe every copy of pixels the driver held.
 * Safe to call with no frame begun (does nothing then); the app calls it after each
 * frame and on every error path.
 */
void pk_hal_camera_end(void);
/* Short ASCII board name for HELLO (at most 12 characters), e.g. "an386". */
const char *pk_hal_board_name(void);
/* Stop: HIL/host exit with status (0..255); production boards halt forever. */
void pk_hal_exit(int status) __attribute__((noreturn));

/* ---- OPTIONAL: weak defaults in app/pk_hal_optional.c ----------------------------- */

/* Monotonic executed-instruction count since init; 0 when the board cannot count. */
uint64_t pk_hal_insn_count(void);
/* Restart the watchdog countdown; called once per frame. Default: no watchdog. */
void pk_hal_watchdog_kick(void);
/*
 * Wipe the stack below the caller's frame, where the per-frame calls left locals
 * (kernels and preprocessing keep pixel-derived values there). Called once per frame.
 * Default: zero PK_HAL_STACK_SCRUB_BYTES below the caller. The emulated boards know
 * their stack's extent and overwrite all of it below the caller with the paint
 * pattern, so its high-water mark can be read back (ports/qemu_mps2/stack.c).
 */
void pk_hal_stack_scrub(void);
/* HIL builds only: one received serial byte (0..255) if one is waiting, else -1 at
 * once (never blocks). Default: -1 (no receive path). Production ports have none. */
int pk_hal_serial_read_byte(void);

#endif /* PK_HAL_H */
