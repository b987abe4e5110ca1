/*
 * Device-to-host records (docs/PROTOCOL.md, "Serial link"): each record is
 * COBS(type | payload | crc32le) 0x00 with one fixed payload size per type.
 */
#ifndef PK_LINK_H
#define PK_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PK_PROTO_VERSION 2u /* 2: HELLO states the decision rule */

/* Record types and their fixed payload sizes. */
enum {
    PK_REC_HELLO = 0x01,
    PK_REC_DECISION = 0x02,
    PK_REC_STATS = 0x03,
    PK_REC_BYE = 0x04,
};
enum {
    PK_HELLO_BYTES = 68,
    PK_DECISION_BYTES = 5,
    PK_STATS_BYTES = 20,
    PK_BYE_BYTES = 4,
    PK_LINK_MAX_PAYLOAD = PK_HELLO_BYTES,
};

enum {
    PK_LINK_OK = 0,
    PK_LINK_ERR_ARG = -1, /* a string field longer than its 12 bytes, or a bad size */
};

/* HELLO build_kind / policy values. */
enum { PK_BUILD_PRODUCTION = 0, PK_BUILD_HIL = 1 };
enum { PK_POLICY_PER_FRAME = 0, PK_POLICY_EVENT_ONLY = 1 };

/* The decision rule as HELLO states it (app/pk_decide.h says what the fields mean). */
typedef struct {
    uint8_t kind;          /* 0 argmax, 1 threshold, 2 k_of_n, 3 hysteresis */
    uint8_t person_index;  /* which model output is "person" */
    int16_t threshold;     /* hit when output[person] - output[other] >= threshold */
    int16_t threshold_low; /* hysteresis: the threshold while the last decision was person */
    uint8_t k;             /* person when k of the last n frames are hits */
    uint8_t n;
} pk_hello_rule;

/* The device's statement of its build manifest (HELLO payload). */
typedef struct {
    uint8_t build_kind;          /* PK_BUILD_* */
    uint8_t policy;              /* PK_POLICY_* */
    uint8_t leak_budget_bits;    /* information per frame the output may carry */
    const char *fw_version;      /* ASCII, 0..12 characters */
    const char *board;           /* ASCII, 0..12 characters */
    const uint8_t *model_sha256; /* 32 bytes */
    pk_hello_rule rule;          /* the decision rule built in */
} pk_hello;

/* Inference statistics for STATS; insn_* are emulator instruction counts, not cycles. */
typedef struct {
    uint32_t frames;
    uint32_t insn_min;   /* 0 when no frame was processed */
    uint32_t insn_max;
    uint64_t insn_total;
} pk_stats;

/*
 * CRC-32 as zlib.crc32 computes it (IEEE 802.3, reflected 0xEDB88320). crc: in, the
 * value so far (0 to start); data: in, n bytes. Returns the updated CRC.
 */
uint32_t pk_crc32(uint32_t crc, const uint8_t *data, size_t n);

/*
 * COBS-encode n bytes of in into out (no trailing 0x00 delimiter written).
 * out needs n + n/254 + 1 bytes; cap: out's size. Returns the encoded length,
 * or 0 when cap is too small (out then unspecified). in and out must not overlap.
 */
size_t pk_cobs_encode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

/*
 * Send one record: type, len payload bytes (0..PK_LINK_MAX_PAYLOAD), CRC, COBS,
 * delimiter, written with one pk_hal_serial_write(). Returns PK_LINK_OK or
 * PK_LINK_ERR_ARG (nothing sent). Callers normally use the typed senders below.
 */
int pk_link_send_record(uint8_t type, const uint8_t *payload, size_t len);

/* Send HELLO for *h (in). Returns PK_LINK_OK, or PK_LINK_ERR_ARG if a string is too long. */
int pk_link_send_hello(const pk_hello *h);
/* Send DECISION: seq = frame number (0 for the first frame), person = the 1-bit output. */
int pk_link_send_decision(uint32_t seq, bool person);
/* Send STATS for *s (in). */
int pk_link_send_stats(const pk_stats *s);
/* Send BYE with the number of frames processed. */
int pk_link_send_bye(uint32_t frames);

#endif /* PK_LINK_H */
