/* Host-to-device command parser of HIL builds (see pk_cmd.h). */
#include "pk_cmd.h"

#include "pk_link.h"

void pk_cmd_parser_init(pk_cmd_parser *p)
{
    p->len = 0;
    p->overflowed = 0;
}

/* Payload size of a command type, or -1 for an unknown type. */
static int payload_bytes(uint8_t type)
{
    switch (type) {
    case PK_CMD_PING:
        return PK_CMD_PING_BYTES;
    case PK_CMD_STOP:
        return PK_CMD_STOP_BYTES;
    case PK_CMD_LIMIT:
        return PK_CMD_LIMIT_BYTES;
    default:
        return -1;
    }
}

int pk_cmd_decode(const uint8_t *wire, size_t n, pk_cmd *out)
{
    uint8_t body[PK_CMD_MAX_BODY];
    size_t m = 0;
    size_t i = 0;

    if (n == 0) {
        return PK_CMD_ERR_COBS;
    }
    if (n > PK_CMD_MAX_WIRE) {
        return PK_CMD_ERR_LENGTH;
    }
    /* COBS: a code byte c (1..255) is followed by c-1 data bytes, then an implied zero
     * unless c == 255 or the frame ends there. */
    while (i < n) {
        const uint8_t code = wire[i++];
        if (code == 0 || (size_t)code - 1u > n - i) {
            return PK_CMD_ERR_COBS;
        }
        for (uint8_t k = 1; k < code; k++) {
            if (wire[i] == 0) {
                return PK_CMD_ERR_COBS;
            }
            if (m == sizeof body) {
                return PK_CMD_ERR_LENGTH;
            }
            body[m++] = wire[i++];
        }
        if (code != 0xFF && i < n) {
            if (m == sizeof body) {
                return PK_CMD_ERR_LENGTH;
            }
            body[m++] = 0;
        }
    }
    if (m < 5) {
        return PK_CMD_ERR_LENGTH;
    }
    const uint32_t crc = (uint32_t)body[m - 4] | (uint32_t)body[m - 3] << 8 |
                         (uint32_t)body[m - 2] << 16 | (uint32_t)body[m - 1] << 24;
    if (pk_crc32(0, body, m - 4) != crc) {
        return PK_CMD_ERR_CRC;
    }
    const int want = payload_bytes(body[0]);
    if (want < 0) {
        return PK_CMD_ERR_TYPE;
    }
    if ((size_t)want != m - 5) {
        return PK_CMD_ERR_SIZE;
    }
    out->type = body[0];
    out->arg = want == 4 ? (uint32_t)body[1] | (uint32_t)body[2] << 8 |
                               (uint32_t)body[3] << 16 | (uint32_t)body[4] << 24
                         : 0u;
    return PK_CMD_READY;
}

int pk_cmd_feed(pk_cmd_parser *p, uint8_t byte, pk_cmd *out)
{
    if (byte != 0) {
        if (p->len < sizeof p->wire) {
            p->wire[p->len++] = byte;
        } else {
            p->overflowed = 1;
        }
        return PK_CMD_NONE;
    }
    const int rc = p->overflowed ? PK_CMD_ERR_LENGTH : pk_cmd_decode(p->wire, p->len, out);
    pk_cmd_parser_init(p);
    return rc;
}

void pk_cmd_send_pong(uint32_t nonce)
{
    const uint8_t p[PK_PONG_BYTES] = {(uint8_t)nonce, (uint8_t)(nonce >> 8),
                                      (uint8_t)(nonce >> 16), (uint8_t)(nonce >> 24)};

    pk_link_send_record(PK_REC_PONG, p, sizeof p);
}
