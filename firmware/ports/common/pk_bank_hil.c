#include "pk_bank.h"

#include "pk_hal.h"

static uint32_t get_u16le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get_u32le(const uint8_t *p)
{
    return get_u16le(p) | get_u16le(p + 2) << 16;
}

int pk_bank_parse(const uint8_t *hdr, size_t bank_bytes, pk_bank_info *out)
{
    const uint32_t count = get_u32le(&hdr[8]);
    const uint32_t width = get_u16le(&hdr[12]);
    const uint32_t height = get_u16le(&hdr[14]);
    const uint8_t channels = hdr[16];
    const uint8_t pixfmt = hdr[17];
    uint64_t frame_bytes; /* up to 65535 * 65535 * 3: more than 32 bits */
    size_t room;

    if (hdr[0] != 'P' || hdr[1] != 'K' || hdr[2] != 'F' || hdr[3] != 'B' ||
        get_u32le(&hdr[4]) != 1u) {
        return PK_HAL_ERR_SOURCE;
    }
    for (unsigned i = 18; i < PK_BANK_HEADER_BYTES; i++) {
        if (hdr[i] != 0) {
            return PK_HAL_ERR_SOURCE; /* reserved bytes: a newer format we do not know */
        }
    }
    if (width == 0 || height == 0 || pk_format_bpp(pixfmt) == 0 ||
        pk_format_bpp(pixfmt) != channels) {
        return PK_HAL_ERR_SOURCE;
    }
    frame_bytes = (uint64_t)width * height * channels;
    /* header + count * frame_bytes <= bank_bytes, written so nothing can overflow. */
    if (bank_bytes < PK_BANK_HEADER_BYTES) {
        return PK_HAL_ERR_SOURCE;
    }
    room = bank_bytes - PK_BANK_HEADER_BYTES;
    if (frame_bytes > room || count > room / (size_t)frame_bytes) {
        return PK_HAL_ERR_SOURCE; /* size_t division: frame_bytes <= room fits */
    }
    out->count = count;
    out->format.width = (uint16_t)width;
    out->format.height = (uint16_t)height;
    out->format.pixfmt = pixfmt;
    out->format.pitch = width * channels;
    out->frame_bytes = (size_t)frame_bytes; /* <= bank_bytes, so it fits */
    return PK_HAL_OK;
}
