/*
 * Production camera of the emulated boards: the emulated sensor of docs/SENSOR.md, a
 * window of board memory outside the image (PK_BOARD_CAMERA_BASE) that the host fills
 * over the debugger while the core is stopped at pk_hal_camera_begin
 * (host_tools/sensor.py). Like a camera's FIFO, every row read is gone: the driver
 * zeroes it in the window, and at the end of the frame zeroes what was not read and the
 * header. With no frame offered it gives the sensor's built-in test pattern
 * (ports/common/pk_pattern.h), so the image runs without a host.
 *
 * READY is read only here, after the breakpoint at pk_hal_camera_begin: the driver
 * never waits for the host, so the instructions executed do not depend on its speed.
 */
#include <string.h>

#include "board.h"
#include "pk_hal.h"
#include "pk_pattern.h"
#include "pk_wipe.h"

/* Header words (docs/SENSOR.md, "The window"), little-endian u32 at these offsets. */
#define SENSOR_MAGIC 0x00u
#define SENSOR_VERSION 0x04u
#define SENSOR_FRAME 0x08u
#define SENSOR_WIDTH 0x0Cu
#define SENSOR_HEIGHT 0x10u
#define SENSOR_PIXFMT 0x14u
#define SENSOR_PITCH 0x18u
#define SENSOR_READY 0x1Cu
#define SENSOR_HEADER_BYTES 0x40u
#define SENSOR_MAGIC_VALUE 0x4E534B50u /* "PKSN" */
#define SENSOR_VERSION_VALUE 1u

#define SENSOR_WORD(off) PK_REG32(PK_BOARD_CAMERA_BASE + (off))
#define SENSOR_ROWS ((uint8_t *)(uintptr_t)(PK_BOARD_CAMERA_BASE + SENSOR_HEADER_BYTES))

enum { IDLE, FROM_SENSOR, FROM_PATTERN };

static int source = IDLE;    /* where the current frame's rows come from */
static pk_format frame;      /* the current frame */
static uint32_t window_pitch; /* bytes per row in the window (>= frame.pitch) */
static uint32_t next_row;    /* rows delivered so far */
static uint32_t pattern_no;  /* pattern frames made so far: moves the bars */

/* The header the host wrote, checked; PK_HAL_OK or PK_HAL_ERR_FORMAT. */
static int sensor_format(pk_format *fmt, uint32_t *pitch)
{
    const uint32_t w = SENSOR_WORD(SENSOR_WIDTH), h = SENSOR_WORD(SENSOR_HEIGHT);
    const uint32_t pixfmt = SENSOR_WORD(SENSOR_PIXFMT);
    const uint32_t p = SENSOR_WORD(SENSOR_PITCH);

    if (SENSOR_WORD(SENSOR_VERSION) != SENSOR_VERSION_VALUE || w == 0 || w > 0xFFFFu ||
        h == 0 || h > 0xFFFFu || pixfmt > 0xFFu || pk_format_bpp((uint8_t)pixfmt) == 0) {
        return PK_HAL_ERR_FORMAT;
    }
    fmt->width = (uint16_t)w;
    fmt->height = (uint16_t)h;
    fmt->pixfmt = (uint8_t)pixfmt;
    fmt->pitch = (uint32_t)pk_format_row_bytes(fmt);
    /* Rows at least as long as the pixels, all inside the window. */
    if (p < fmt->pitch ||
        (uint64_t)p * h > PK_BOARD_CAMERA_BYTES - SENSOR_HEADER_BYTES) {
        return PK_HAL_ERR_FORMAT;
    }
    *pitch = p;
    return PK_HAL_OK;
}

/* The host breaks here (docs/SENSOR.md): noinline and used keep the symbol a function. */
__attribute__((noinline, used)) int pk_hal_camera_begin(pk_format *fmt)
{
    int rc;

    pk_hal_camera_end();
    if (SENSOR_WORD(SENSOR_MAGIC) == SENSOR_MAGIC_VALUE && SENSOR_WORD(SENSOR_READY) == 1u) {
        SENSOR_WORD(SENSOR_READY) = 0; /* taken */
        rc = sensor_format(fmt, &window_pitch);
        if (rc != PK_HAL_OK) {
            pk_wipe((void *)(uintptr_t)PK_BOARD_CAMERA_BASE, SENSOR_HEADER_BYTES);
            return rc;
        }
        source = FROM_SENSOR;
    } else {
        rc = pk_pattern_format(fmt);
        if (rc != PK_HAL_OK) {
            return rc;
        }
        source = FROM_PATTERN;
    }
    frame = *fmt;
    next_row = 0;
    return PK_HAL_OK;
}

int pk_hal_camera_read_rows(uint8_t *dst, size_t capacity, uint16_t nrows)
{
    if (source == IDLE) {
        return PK_HAL_ERR_SOURCE;
    }
    if (nrows > frame.height - next_row || (size_t)nrows * frame.pitch > capacity) {
        return PK_HAL_ERR_CAPACITY;
    }
    for (uint32_t i = 0; i < nrows; i++, next_row++) {
        uint8_t *const out = dst + (size_t)i * frame.pitch;
        if (source == FROM_SENSOR) {
            uint8_t *const row = SENSOR_ROWS + (size_t)next_row * window_pitch;
            memcpy(out, row, frame.pitch);
            pk_wipe(row, window_pitch); /* a FIFO: what was read is gone */
        } else {
            pk_pattern_row(&frame, pattern_no, next_row, out);
        }
    }
    return PK_HAL_OK;
}

void pk_hal_camera_end(void)
{
    if (source == FROM_SENSOR) {
        /* Rows not read, then the header: between frames the window is all zeros. */
        pk_wipe(SENSOR_ROWS + (size_t)next_row * window_pitch,
                (size_t)(frame.height - next_row) * window_pitch);
        pk_wipe((void *)(uintptr_t)PK_BOARD_CAMERA_BASE, SENSOR_HEADER_BYTES);
    } else if (source == FROM_PATTERN) {
        pattern_no++;
    }
    source = IDLE;
}
