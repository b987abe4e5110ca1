/*
 * TEST ONLY -- deliberately leaky HIL variants (see pk_test_leaks_hil.h). Every function
 * in this file exists to break the privacy guarantees so that the audit can prove it
 * notices. It is compiled only by `make BUILD=hil LEAK=<name>`; nothing here may ever be
 * linked into a production image (host_tools/elf_check.py denies any name with "leak").
 */
#include "pk_test_leaks_hil.h"

#include <string.h>

#include "pk_hal.h"
#include "pk_link.h"

#if PEEKLESS_TEST_LEAK == PK_LEAK_ZLIB_THUMBNAIL
/* TEST ONLY: one gray value for pixel (x, y) of any supported camera format. */
static uint8_t test_leak_gray_at(const uint8_t *frame, const pk_format *fmt, uint32_t x,
                                 uint32_t y)
{
    const size_t i = (size_t)y * fmt->width + x;

    switch (fmt->pixfmt) {
    case PK_PIXFMT_RGB888: {
        const uint8_t *p = &frame[3u * i];
        return (uint8_t)((77u * p[0] + 150u * p[1] + 29u * p[2]) >> 8);
    }
    case PK_PIXFMT_RGB565: {
        const uint32_t v = (uint32_t)frame[2u * i] | (uint32_t)frame[2u * i + 1u] << 8;
        return (uint8_t)(((v >> 11) & 0x1Fu) << 3); /* red only: enough for a leak */
    }
    case PK_PIXFMT_YUYV:
        return frame[2u * i]; /* Y of pixel x sits at byte 2x of the row */
    default:
        return frame[i];
    }
}
#endif

#if PEEKLESS_TEST_LEAK == PK_LEAK_HEX_FRAME
/* TEST ONLY: the frame as lowercase hex, in chunks through a small stack buffer. */
static void test_leak_hex(const uint8_t *frame, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    uint8_t chunk[128];
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        chunk[k++] = (uint8_t)digits[frame[i] >> 4];
        chunk[k++] = (uint8_t)digits[frame[i] & 0xFu];
        if (k == sizeof chunk) {
            pk_hal_serial_write(chunk, k);
            k = 0;
        }
    }
    pk_hal_serial_write(chunk, k);
}
#endif

#if PEEKLESS_TEST_LEAK == PK_LEAK_BASE64_FRAME
/* TEST ONLY: the frame as RFC 4648 base64 with '=' padding. */
static void test_leak_base64(const uint8_t *frame, size_t n)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint8_t chunk[128];
    size_t k = 0;

    for (size_t i = 0; i < n; i += 3) {
        const size_t left = n - i;
        const uint32_t v = (uint32_t)frame[i] << 16 |
                           (left > 1 ? (uint32_t)frame[i + 1] << 8 : 0u) |
                           (left > 2 ? (uint32_t)frame[i + 2] : 0u);
        chunk[k++] = (uint8_t)alphabet[(v >> 18) & 63u];
        chunk[k++] = (uint8_t)alphabet[(v >> 12) & 63u];
        chunk[k++] = left > 1 ? (uint8_t)alphabet[(v >> 6) & 63u] : (uint8_t)'=';
        chunk[k++] = left > 2 ? (uint8_t)alphabet[v & 63u] : (uint8_t)'=';
        if (k == sizeof chunk) {
            pk_hal_serial_write(chunk, k);
            k = 0;
        }
    }
    pk_hal_serial_write(chunk, k);
}
#endif

#if PEEKLESS_TEST_LEAK == PK_LEAK_ZLIB_THUMBNAIL
/*
 * TEST ONLY: a 24x24 gray thumbnail (nearest neighbour, source pixel (x*W/24, y*H/24))
 * as a complete zlib stream (RFC 1950/1951): header 78 01, one final stored block
 * (BTYPE 00: 01, LEN, ~LEN), the 576 bytes, adler32 big-endian. Python's
 * zlib.decompress() returns the thumbnail.
 */
static void test_leak_zlib_thumbnail(const uint8_t *frame, const pk_format *fmt)
{
    enum { N = PK_TEST_LEAK_THUMB_SIDE * PK_TEST_LEAK_THUMB_SIDE };
    uint8_t out[2 + 5 + N + 4];
    uint32_t a = 1, b = 0;
    size_t o = 0;

    out[o++] = 0x78; /* CM = 8 (deflate), CINFO = 7 (32 KiB window) */
    out[o++] = 0x01; /* FLEVEL 0, no dictionary, (0x78 << 8 | 0x01) % 31 == 0 */
    out[o++] = 0x01; /* BFINAL = 1, BTYPE = 00 (stored), padded to the byte */
    out[o++] = (uint8_t)(N & 0xFF);
    out[o++] = (uint8_t)(N >> 8);
    out[o++] = (uint8_t)(~N & 0xFF);
    out[o++] = (uint8_t)((~N >> 8) & 0xFF);
    for (uint32_t y = 0; y < PK_TEST_LEAK_THUMB_SIDE; y++) {
        for (uint32_t x = 0; x < PK_TEST_LEAK_THUMB_SIDE; x++) {
            const uint8_t g = test_leak_gray_at(frame, fmt, x * fmt->width / PK_TEST_LEAK_THUMB_SIDE,
                                                y * fmt->height / PK_TEST_LEAK_THUMB_SIDE);
            out[o++] = g;
            a = (a + g) % 65521u;
            b = (b + a) % 65521u;
        }
    }
    const uint32_t adler = b << 16 | a;
    out[o++] = (uint8_t)(adler >> 24);
    out[o++] = (uint8_t)(adler >> 16);
    out[o++] = (uint8_t)(adler >> 8);
    out[o++] = (uint8_t)adler;
    pk_hal_serial_write(out, o);
}
#endif

bool pk_test_leak_replace_decision(uint32_t seq, bool person, const uint8_t *frame,
                                   const pk_format *fmt)
{
#if PEEKLESS_TEST_LEAK == PK_LEAK_PIXEL_BIT
    /* TEST ONLY: flags bit 1 carries the LSB of one frame byte per DECISION. */
    const size_t n = pk_format_frame_bytes(fmt);
    uint8_t p[PK_DECISION_BYTES];

    p[0] = (uint8_t)seq;
    p[1] = (uint8_t)(seq >> 8);
    p[2] = (uint8_t)(seq >> 16);
    p[3] = (uint8_t)(seq >> 24);
    p[4] = (uint8_t)((person ? 1u : 0u) | (uint8_t)((frame[seq % n] & 1u) << 1));
    pk_link_send_record(PK_REC_DECISION, p, sizeof p);
    return true;
#else
    (void)seq;
    (void)person;
    (void)frame;
    (void)fmt;
    return false;
#endif
}

void pk_test_leak_after_decision(uint32_t seq, const uint8_t *frame, const pk_format *fmt)
{
    const size_t n = pk_format_frame_bytes(fmt);

    (void)seq;
    (void)n;
    (void)frame;
#if PEEKLESS_TEST_LEAK == PK_LEAK_RAW_FRAME
    pk_hal_serial_write(frame, n); /* TEST ONLY: the frame, unframed */
#elif PEEKLESS_TEST_LEAK == PK_LEAK_HEX_FRAME
    test_leak_hex(frame, n);
#elif PEEKLESS_TEST_LEAK == PK_LEAK_BASE64_FRAME
    test_leak_base64(frame, n);
#elif PEEKLESS_TEST_LEAK == PK_LEAK_ZLIB_THUMBNAIL
    test_leak_zlib_thumbnail(frame, fmt);
#elif PEEKLESS_TEST_LEAK == PK_LEAK_EXTRA_RECORD
    {
        uint8_t p[PK_TEST_LEAK_EXTRA_RECORD_BYTES];
        memset(p, 0, sizeof p);
        memcpy(p, frame, n < sizeof p ? n : sizeof p);
        pk_link_send_record(PK_TEST_LEAK_EXTRA_RECORD_TYPE, p, sizeof p); /* TEST ONLY */
    }
#endif
}

bool pk_test_leak_skip_framebuffer_wipe(void)
{
    return PEEKLESS_TEST_LEAK == PK_LEAK_RAM_REMNANT; /* TEST ONLY: frame stays in RAM */
}
