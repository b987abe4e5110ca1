/*
 * HIL camera on the host: frames are read one at a time from the PKFB file named by
 * argv[1], straight into the framebuffer. The stream is unbuffered so no stdio buffer
 * keeps a copy of pixels after the frame is wiped.
 */
#include <stdio.h>

#include "pk_bank.h"
#include "pk_hal.h"
#include "port_host.h"

static FILE *bank_file;
static pk_bank_info bank;
static uint32_t next_frame;

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

int pk_hal_camera_capture(uint8_t *fb, size_t capacity, pk_format *fmt)
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
    if (bank.frame_bytes > capacity) {
        return PK_HAL_ERR_CAPACITY;
    }
    if (fread(fb, 1, bank.frame_bytes, bank_file) != bank.frame_bytes) {
        return PK_HAL_ERR_SOURCE;
    }
    *fmt = bank.format;
    next_frame++;
    return PK_HAL_OK;
}
