/*
 * HIL camera: frames come from the PKFB bank that QEMU preloaded at PK_BOARD_BANK_BASE.
 * Each slot is wiped right after it is copied out, so no frame outlives its inference.
 */
#include <string.h>

#include "board.h"
#include "pk_bank.h"
#include "pk_hal.h"
#include "pk_wipe.h"

static pk_bank_info bank;
static int bank_parsed;
static uint32_t next_frame;

int pk_hal_camera_capture(uint8_t *fb, size_t capacity, pk_format *fmt)
{
    uint8_t *const base = (uint8_t *)(uintptr_t)PK_BOARD_BANK_BASE;
    uint8_t *slot;

    if (!bank_parsed) {
        const int rc = pk_bank_parse(base, PK_BOARD_BANK_BYTES, &bank);
        if (rc != PK_HAL_OK) {
            return rc;
        }
        bank_parsed = 1;
    }
    if (next_frame >= bank.count) {
        return PK_HAL_END_OF_FRAMES;
    }
    if (bank.frame_bytes > capacity) {
        return PK_HAL_ERR_CAPACITY;
    }
    slot = base + PK_BANK_HEADER_BYTES + (size_t)next_frame * bank.frame_bytes;
    memcpy(fb, slot, bank.frame_bytes);
    pk_wipe(slot, bank.frame_bytes);
    *fmt = bank.format;
    next_frame++;
    return PK_HAL_OK;
}
