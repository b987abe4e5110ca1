/*
 * Frame bank header parsing (docs/PROTOCOL.md, "Frame bank"), shared by every port's
 * HIL camera. Compiled into HIL builds only: production images have no test input path.
 */
#ifndef PK_BANK_H
#define PK_BANK_H

#include <stddef.h>
#include <stdint.h>

#include "pk_format.h"

#define PK_BANK_HEADER_BYTES 32u

/* What a valid header says. */
typedef struct {
    uint32_t count;     /* number of frames, 0.. */
    pk_format format;   /* geometry and pixel format of every frame */
    size_t frame_bytes; /* bytes per frame, >= 1 */
} pk_bank_info;

/*
 * Validate a bank header and describe the bank. hdr: in, PK_BANK_HEADER_BYTES bytes.
 * bank_bytes: in, bytes available for the whole bank (header + frames), e.g. the RAM
 * window or the file size. out: out, valid only on success.
 * Returns PK_HAL_OK, or PK_HAL_ERR_SOURCE for bad magic/version/reserved bytes, zero
 * or inconsistent geometry, or frames that would run past bank_bytes.
 */
int pk_bank_parse(const uint8_t *hdr, size_t bank_bytes, pk_bank_info *out);

#endif /* PK_BANK_H */
