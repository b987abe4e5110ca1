/*
 * Record framing for the serial link. Bodies are tiny (at most 73 bytes), so a bitwise
 * CRC costs nothing worth a 1 KiB table, and each record is built on the stack.
 */
#include "pk_link.h"

#include <string.h>

#include "pk_hal.h"

/* body = type + payload + crc32; COBS adds 1 byte per 254 plus 1; then the 0x00. */
#define PK_BODY_MAX (1u + PK_LINK_MAX_PAYLOAD + 4u)
#define PK_WIRE_MAX (PK_BODY_MAX + PK_BODY_MAX / 254u + 1u + 1u)

uint32_t pk_crc32(uint32_t crc, const uint8_t *data, size_t n)
{
    uint32_t c = ~crc;

    for (size_t i = 0; i < n; i++) {
        c ^= data[i];
        for (int k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
        }
    }
    return ~c;
}

size_t pk_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    size_t code_at = 0; /* where the current block's length byte goes */
    size_t o = 1;
    uint8_t code = 1; /* 1 + number of data bytes in the current block */

    if (cap < n + n / 254u + 1u) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (in[i] == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
            continue;
        }
        out[o++] = in[i];
        code++;
        /* A full block (254 data bytes) ends without an implied zero; open a new block
         * only if input remains, so the encoding is the canonical (shortest) one. */
        if (code == 0xFF && i + 1 < n) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
        }
    }
    out[code_at] = code;
    return o;
}

static void put_u16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Copy an ASCII string into a 12-byte NUL-padded field; -1 if it does not fit. */
static int put_str12(uint8_t *field, const char *s)
{
    size_t len = 0;

    while (s[len] != '\0') {
        if (++len > 12) {
            return PK_LINK_ERR_ARG;
        }
    }
    memset(field, 0, 12);
    memcpy(field, s, len);
    return PK_LINK_OK;
}

int pk_link_send_record(uint8_t type, const uint8_t *payload, size_t len)
{
    uint8_t body[PK_BODY_MAX];
    uint8_t wire[PK_WIRE_MAX];
    size_t n;

    if (len > PK_LINK_MAX_PAYLOAD) {
        return PK_LINK_ERR_ARG;
    }
    body[0] = type;
    memcpy(&body[1], payload, len);
    put_u32le(&body[1 + len], pk_crc32(0, body, 1 + len));
    n = pk_cobs_encode(body, 1 + len + 4, wire, sizeof wire - 1);
    wire[n++] = 0x00;
    pk_hal_serial_write(wire, n);
    return PK_LINK_OK;
}

int pk_link_send_hello(const pk_hello *h)
{
    uint8_t p[PK_HELLO_BYTES];

    p[0] = PK_PROTO_VERSION;
    p[1] = h->build_kind;
    p[2] = h->policy;
    p[3] = h->leak_budget_bits;
    if (put_str12(&p[4], h->fw_version) != PK_LINK_OK ||
        put_str12(&p[16], h->board) != PK_LINK_OK) {
        return PK_LINK_ERR_ARG;
    }
    memcpy(&p[28], h->model_sha256, 32);
    p[60] = h->rule.kind;
    p[61] = h->rule.person_index;
    put_u16le(&p[62], (uint16_t)h->rule.threshold);
    put_u16le(&p[64], (uint16_t)h->rule.threshold_low);
    p[66] = h->rule.k;
    p[67] = h->rule.n;
    return pk_link_send_record(PK_REC_HELLO, p, sizeof p);
}

int pk_link_send_decision(uint32_t seq, bool person)
{
    uint8_t p[PK_DECISION_BYTES];

    put_u32le(&p[0], seq);
    p[4] = person ? 1u : 0u; /* bit 0 = person; other bits stay 0 */
    return pk_link_send_record(PK_REC_DECISION, p, sizeof p);
}

int pk_link_send_stats(const pk_stats *s)
{
    uint8_t p[PK_STATS_BYTES];

    put_u32le(&p[0], s->frames);
    put_u32le(&p[4], s->insn_min);
    put_u32le(&p[8], s->insn_max);
    put_u32le(&p[12], (uint32_t)s->insn_total);
    put_u32le(&p[16], (uint32_t)(s->insn_total >> 32));
    return pk_link_send_record(PK_REC_STATS, p, sizeof p);
}

int pk_link_send_bye(uint32_t frames)
{
    uint8_t p[PK_BYE_BYTES];

    put_u32le(&p[0], frames);
    return pk_link_send_record(PK_REC_BYE, p, sizeof p);
}
