/*
 * Host-to-device commands of HIL builds (docs/PROTOCOL.md, "Serial link: host to
 * device"): COBS(type | payload | crc32le) 0x00, like the device's records, with one
 * fixed payload size per type. The parser is a pure function of the bytes it is fed:
 * no I/O, no allocation, bounded state. It is compiled into HIL builds only
 * (pk_cmd_hil.c) and fuzzed on the host (firmware/fuzz/fuzz_command_parser.c).
 */
#ifndef PK_CMD_H
#define PK_CMD_H

#include <stddef.h>
#include <stdint.h>

/* Command types and their fixed payload sizes. */
enum {
    PK_CMD_PING = 0x81,  /* payload nonce:u32; the device answers PONG with the nonce */
    PK_CMD_STOP = 0x82,  /* no payload; end the run after the current frame */
    PK_CMD_LIMIT = 0x83, /* payload frames:u32; end the run once that many frames are done */
};
enum {
    PK_CMD_PING_BYTES = 4,
    PK_CMD_STOP_BYTES = 0,
    PK_CMD_LIMIT_BYTES = 4,
    PK_CMD_MAX_PAYLOAD = 4,
};
/* Longest valid body (type + payload + crc) and its COBS encoding (no delimiter). */
#define PK_CMD_MAX_BODY (1u + PK_CMD_MAX_PAYLOAD + 4u)
#define PK_CMD_MAX_WIRE (PK_CMD_MAX_BODY + 1u)

/* Results of pk_cmd_feed() and pk_cmd_decode(). */
enum {
    PK_CMD_NONE = 0,        /* no complete frame yet */
    PK_CMD_READY = 1,       /* *out holds a valid command */
    PK_CMD_ERR_COBS = -1,   /* bad COBS encoding (or an empty frame) */
    PK_CMD_ERR_LENGTH = -2, /* frame longer than any command, or too short for a CRC */
    PK_CMD_ERR_CRC = -3,    /* CRC mismatch */
    PK_CMD_ERR_TYPE = -4,   /* unknown command type */
    PK_CMD_ERR_SIZE = -5,   /* payload size wrong for the type */
};

/* One decoded command. arg: the u32 payload (PING nonce, LIMIT frames), else 0. */
typedef struct {
    uint8_t type;
    uint32_t arg;
} pk_cmd;

/* Incremental parser state: bytes of the frame being received. */
typedef struct {
    uint8_t wire[PK_CMD_MAX_WIRE];
    size_t len;      /* bytes kept in wire */
    int overflowed;  /* the current frame ran past PK_CMD_MAX_WIRE: it will be refused */
} pk_cmd_parser;

/* Start (or restart) a parser with no pending bytes. */
void pk_cmd_parser_init(pk_cmd_parser *p);

/*
 * Feed one received byte. At a 0x00 delimiter the pending frame is decoded: returns
 * PK_CMD_READY with *out filled, or a PK_CMD_ERR_* (the frame is dropped; parsing goes on
 * with the next byte). Any other byte returns PK_CMD_NONE. Never reads or writes outside
 * *p and *out, whatever the input.
 */
int pk_cmd_feed(pk_cmd_parser *p, uint8_t byte, pk_cmd *out);

/*
 * Decode one frame: wire[0..n) is the COBS-encoded body without its delimiter.
 * Returns PK_CMD_READY with *out filled, or a PK_CMD_ERR_* code (*out untouched).
 */
int pk_cmd_decode(const uint8_t *wire, size_t n, pk_cmd *out);

/* HIL record answering PING (device to host): payload nonce:u32. */
#define PK_REC_PONG 0x06u
#define PK_PONG_BYTES 4u

/* Send PONG with the PING's nonce. */
void pk_cmd_send_pong(uint32_t nonce);

#endif /* PK_CMD_H */
