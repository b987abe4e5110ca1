/*
 * HIL camera on the host: frames are read from the PKFB file named by argv[1], a few
 * rows at a time, straight into the app's line buffer. The stream is unbuffered so no
 * stdio buffer keeps a copy of pixels; rows a frame does not need are skipped unread.
 */
#include <stdio.h>

#include "pk_bank.h"
#include "pk_hal.h"
#include "port_host.h"

static FILE *bank_file;
static pk_bank_info bank;
static uint32_t next_frame;
static uint32_t rows_left; /* rows of the current frame not read yet; 0: no frame */
static int frame_open;

/* Open and validate the bank; on failure bank_file stays NULL. */
static int open_bank(void)
{
    uint8_t hdr[PK_BANK_HEADER_BYTES];
    FILE *f;
    long size;
    int rc = PK_HAL_ERR_SOURCE;

    if (pk_host_arg1 == NULL || (f = fopen(pk_host_arg1, "rb")) == NULL) {
        return PK_HAL_ERR_SOURCE;
    }
    if (setvbuf(f, NULL, _IONBF, 0) == 0 && fseek(f, 0, SEEK_END) == 0 &&
        (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        fread(hdr, 1, sizeof hdr, f) == sizeof hdr) {
        rc = pk_bank_parse(hdr, (size_t)size, &bank);
    }
    if (rc != PK_HAL_OK) {
        fclose(f);
        return rc;
    }
    bank_file = f;
    return PK_HAL_OK;
}

int pk_hal_camera_begin(pk_format *fmt)
{
    if (bank_file == NULL) {
        const int rc = open_bank();
        if (rc != PK_HAL_OK) {
            return rc;
        }
    }
    if (next_frame >= bank.count) {
        return PK_HAL_END_OF_FRAMES;
    }
    *fmt = bank.format;
    rows_left = bank.format.height;
    frame_open = 1;
    next_frame++;
    return PK_HAL_OK;
}

int pk_hal_camera_read_rows(uint8_t *dst, size_t capacity, uint16_t nrows)
{
    const size_t n = (size_t)nrows * bank.format.pitch;

    if (!frame_open) {
        return PK_HAL_ERR_SOURCE;
    }
    if (nrows > rows_left || n > capacity) {
        return PK_HAL_ERR_CAPACITY;
    }
    if (fread(dst, 1, n, bank_file) != n) {
        return PK_HAL_ERR_SOURCE;
    }
    rows_left -= nrows;
    return PK_HAL_OK;
}

void pk_hal_camera_end(void)
{
    if (frame_open && rows_left > 0) {
        /* Rows not read: move the file position to the next frame. */
        fseek(bank_file, (long)rows_left * (long)bank.format.pitch, SEEK_CUR);
    }
    rows_left = 0;
    frame_open = 0;
}
