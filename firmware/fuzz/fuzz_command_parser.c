/*
 * libFuzzer target for the HIL command parser (app/pk_cmd_hil.c), host build:
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iapp fuzz/fuzz_command_parser.c \
 *         app/pk_cmd_hil.c app/pk_link.c -o fuzz_command_parser
 *
 * Each input is fed byte by byte through one parser (as the UART would), and also
 * decoded whole. Besides the sanitizers' checks, it asserts the parser's contract:
 * results are in range, a decoded command has a known type, and every command that
 * decodes re-encodes (our own COBS + CRC, pk_link.c) to a frame that decodes to the same
 * command. `make -C firmware fuzz` runs it (scripts/fuzz_command_parser.sh).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pk_cmd.h"
#include "pk_hal.h"
#include "pk_link.h"

/* pk_link.c's record sender writes here: the fuzzer keeps nothing. */
void pk_hal_serial_write(const uint8_t *data, size_t len)
{
    (void)data;
    (void)len;
}

#define CHECK(cond) \
    do { \
        if (!(cond)) { \
            abort(); \
        } \
    } while (0)

static int known(uint8_t type)
{
    return type == PK_CMD_PING || type == PK_CMD_STOP || type == PK_CMD_LIMIT;
}

/* Encode cmd as the host would, decode it again: must give the same command. */
static void check_roundtrip(const pk_cmd *cmd)
{
    uint8_t body[PK_CMD_MAX_BODY], wire[PK_CMD_MAX_WIRE + 8];
    const size_t plen = cmd->type == PK_CMD_STOP ? 0u : 4u;
    pk_cmd again;

    body[0] = cmd->type;
    for (size_t i = 0; i < plen; i++) {
        body[1 + i] = (uint8_t)(cmd->arg >> (8 * i));
    }
    const uint32_t crc = pk_crc32(0, body, 1 + plen);
    for (size_t i = 0; i < 4; i++) {
        body[1 + plen + i] = (uint8_t)(crc >> (8 * i));
    }
    const size_t n = pk_cobs_encode(body, 1 + plen + 4, wire, sizeof wire);
    CHECK(n > 0 && n <= PK_CMD_MAX_WIRE);
    CHECK(memchr(wire, 0, n) == NULL);
    CHECK(pk_cmd_decode(wire, n, &again) == PK_CMD_READY);
    CHECK(again.type == cmd->type && again.arg == cmd->arg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pk_cmd_parser parser;
    pk_cmd cmd;

    pk_cmd_parser_init(&parser);
    for (size_t i = 0; i < size; i++) {
        const int rc = pk_cmd_feed(&parser, data[i], &cmd);
        CHECK(rc >= PK_CMD_ERR_SIZE && rc <= PK_CMD_READY);
        CHECK(parser.len <= sizeof parser.wire);
        if (rc == PK_CMD_READY) {
            CHECK(known(cmd.type));
            CHECK(cmd.type != PK_CMD_STOP || cmd.arg == 0);
            check_roundtrip(&cmd);
        }
    }
    /* The whole input as one frame body (no delimiter), any length. */
    const int rc = pk_cmd_decode(data, size, &cmd);
    CHECK(rc >= PK_CMD_ERR_SIZE && rc <= PK_CMD_READY);
    if (rc == PK_CMD_READY) {
        CHECK(known(cmd.type));
        check_roundtrip(&cmd);
    }
    return 0;
}
