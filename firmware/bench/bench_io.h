/* Serial output and the input bank's header, shared by the emulator mains that speak the
 * bench format: firmware/bench/bench_main.c, compiler/runners/stream_main.c and
 * firmware/tools/kernel_check.c (text lines on UART0; read by compiler/bench/device.py).
 *
 * Input bank, at PK_BOARD_BANK_BASE: "PKBI", u32 count, u32 input bytes, u32 output bytes,
 * then count inputs (int8).
 *
 * Static functions (each main uses some of them): the includer's copy is its own, compiled
 * as if written in its file. Where a main calls them inside a counted region (stream_main's
 * input callback), their instructions are part of the count. */
#ifndef BENCH_IO_H
#define BENCH_IO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pk_hal.h"

#define BENCH_MAGIC 0x49424B50u /* "PKBI" little-endian */

#define BENCH_IO_UNUSED __attribute__((unused))

/** Writes the NUL-terminated string s. */
static BENCH_IO_UNUSED void put(const char *s)
{
    pk_hal_serial_write((const uint8_t *)s, strlen(s));
}

/** Writes v in decimal, one byte at a time. */
static BENCH_IO_UNUSED void put_u64(uint64_t v)
{
    char buf[24];
    int n = 0;
    do {
        buf[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v);
    while (n) {
        pk_hal_serial_write((const uint8_t *)&buf[--n], 1);
    }
}

/** Writes len bytes as lower-case hex, two digits each, nothing between. */
static BENCH_IO_UNUSED void put_hex(const int8_t *data, uint32_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (uint32_t i = 0; i < len; i++) {
        const uint8_t b = (uint8_t)data[i];
        const char pair[2] = {digits[b >> 4], digits[b & 15u]};
        pk_hal_serial_write((const uint8_t *)pair, 2);
    }
}

/** Whether the bank's header is "PKBI" with the given input and output sizes (the main
 * then writes "E 2" and exits if not). */
static BENCH_IO_UNUSED int bench_header_ok(const uint32_t *header, uint32_t input_bytes,
                                           uint32_t output_bytes)
{
    return header[0] == BENCH_MAGIC && header[2] == input_bytes && header[3] == output_bytes;
}

#endif /* BENCH_IO_H */
