/*
 * HIL camera: frames come from the PKFB bank that QEMU preloaded into the camera window
 * (PK_BOARD_CAMERA_BASE), delivered a few rows at a time. Every row is wiped in the bank
 * as soon as it is copied out, and pk_hal_camera_end() wipes the rows the app did not
 * read, so no frame outlives its inference anywhere in RAM.
 */
#include <string.h>

#include "board.h"
#include "pk_bank.h"
#include "pk_hal.h"
#include "pk_wipe.h"

static pk_bank_info bank;
static int bank_parsed;
static uint32_t next_frame;
static uint8_t *next_row;  /* in the bank: the current frame's next row */
static uint32_t rows_left; /* rows of the current frame not read yet; 0: no frame */

int pk_hal_camera_begin(pk_format *fmt)
{
    uint8_t *const base = (uint8_t *)(uintptr_t)PK_BOARD_CAMERA_BASE;

    if (!bank_parsed) {
        const int rc = pk_bank_parse(base, PK_BOARD_CAMERA_BYTES, &bank);
        if (rc != PK_HAL_OK) {
            return rc;
        }
        bank_parsed = 1;
    }
    if (next_frame >= bank.count) {
        return PK_HAL_END_OF_FRAMES;
    }
    next_row = base + PK_BANK_HEADER_BYTES + (size_t)next_frame * bank.frame_bytes;
    rows_left = bank.format.height;
    *fmt = bank.format;
    next_frame++;
    return PK_HAL_OK;
}

int pk_hal_camera_read_rows(uint8_t *dst, size_t capacity, uint16_t nrows)
{
    const size_t n = (size_t)nrows * bank.format.pitch;

    if (rows_left == 0) {
        return PK_HAL_ERR_SOURCE;
    }
    if (nrows > rows_left || n > capacity) {
        return PK_HAL_ERR_CAPACITY;
    }
    memcpy(dst, next_row, n);
    pk_wipe(next_row, n);
    next_row += n;
    rows_left -= nrows;
    return PK_HAL_OK;
}

void pk_hal_camera_end(void)
{
    pk_wipe(next_row, (size_t)rows_left * bank.format.pitch);
    rows_left = 0;
}
