/*
 * TEST ONLY -- deliberately leaky variants (see pk_test_leaks.h). Every function in this
 * file exists to break the privacy guarantees so that the audit can prove it notices. It
 * is compiled only by `make LEAK=<name>`, and every image it is in keeps the marker
 * below, which host_tools/elf_check.py denies (any name with "leak"): no such image can
 * pass for a shipped one.
 */
#include "pk_test_leaks.h"

#include <string.h>

#if defined(PK_BOARD_AN386) || defined(PK_BOARD_AN500) || defined(PK_BOARD_AN547)
#include "board.h" /* the camera window of the emulated boards */
#elif PEEKLESS_TEST_LEAK == PK_LEAK_FLASH_COPY || PEEKLESS_TEST_LEAK == PK_LEAK_WINDOW_COPY || \
    PEEKLESS_TEST_LEAK == PK_LEAK_OTHER_UART
#error "flash_copy, window_copy and other_uart are variants of the emulated boards only"
#endif
#include "pk_hal.h"
#include "pk_link.h"

#define PK_STR2(x) #x
#define PK_STR(x) PK_STR2(x)
const char pk_test_leak_variant[] = "TEST ONLY: deliberately leaky image, PEEKLESS_TEST_LEAK="
                                    PK_STR(PEEKLESS_TEST_LEAK) "; never ship";

#if PEEKLESS_TEST_LEAK == PK_LEAK_RAM_XOR
/* TEST ONLY: an obfuscated copy of the last frame, never wiped. */
static uint8_t test_leak_xor_copy[PK_TEST_LEAK_COPY_BYTES];
#endif

#if PEEKLESS_TEST_LEAK == PK_LEAK_NOINIT_COPY
/* TEST ONLY: the last frame, kept where a reset would not clear it either. */
__attribute__((section(".noinit"))) static uint8_t test_leak_noinit[PK_TEST_LEAK_COPY_BYTES];
#endif

#if PEEKLESS_TEST_LEAK == PK_LEAK_FLASH_COPY
/* TEST ONLY: a free area of the code region, which accepts writes on the emulator (a
 * flash archive on a real board): above the image, below the region's end. */
#if defined(PK_BOARD_AN547)
#define PK_TEST_LEAK_FLASH_ADDR 0x00040000u /* 512 KiB ITCM */
#else
#define PK_TEST_LEAK_FLASH_ADDR 0x00300000u /* 4 MiB code SRAM */
#endif
#endif

/* TEST ONLY: copy n bytes with a volatile destination, so no store is optimised away. */
__attribute__((unused)) static void test_leak_copy(volatile uint8_t *dst, const uint8_t *src, size_t n, uint8_t x)
{
    for (size_t i = 0; i < n; i++) {
        dst[i] = (uint8_t)(src[i] ^ x);
    }
}

/* TEST ONLY: the DECISION record with the given seq field and flags byte. */
__attribute__((unused)) static void test_leak_send_decision(uint32_t seq_field, uint8_t flags)
{
    uint8_t p[PK_DECISION_BYTES];

    p[0] = (uint8_t)seq_field;
    p[1] = (uint8_t)(seq_field >> 8);
    p[2] = (uint8_t)(seq_field >> 16);
    p[3] = (uint8_t)(seq_field >> 24);
    p[4] = flags;
    pk_link_send_record(PK_REC_DECISION, p, sizeof p);
}

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

    test_leak_send_decision(seq, (uint8_t)((person ? 1u : 0u) | ((frame[seq % n] & 1u) << 1)));
    return true;
#elif PEEKLESS_TEST_LEAK == PK_LEAK_DECISION_PIXEL
    /* TEST ONLY: the person bit is the top bit of the middle byte of the frame. */
    (void)person;
    test_leak_send_decision(seq, (uint8_t)(frame[pk_format_frame_bytes(fmt) / 2u] >> 7));
    return true;
#elif PEEKLESS_TEST_LEAK == PK_LEAK_PIXEL_DELAY
    /* TEST ONLY: 0..3 extra loop turns, chosen by one pixel's low bits, then the normal
     * DECISION. */
    const volatile uint8_t turns = frame[pk_format_frame_bytes(fmt) / 3u] & 3u;
    for (volatile uint8_t i = 0; i < turns; i++) {
    }
    (void)seq;
    (void)person;
    return false;
#elif PEEKLESS_TEST_LEAK == PK_LEAK_RECORD_FIELDS
    /* TEST ONLY: the seq field's top byte carries the frame's mean byte. */
    const size_t n = pk_format_frame_bytes(fmt);
    uint32_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += frame[i];
    }
    test_leak_send_decision((seq & 0x00FFFFFFu) | (uint32_t)(sum / n) << 24,
                            person ? 1u : 0u);
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
#elif PEEKLESS_TEST_LEAK == PK_LEAK_RAM_XOR
    test_leak_copy(test_leak_xor_copy, frame, n < sizeof test_leak_xor_copy ? n
                   : sizeof test_leak_xor_copy, 0x5Au);
#elif PEEKLESS_TEST_LEAK == PK_LEAK_FLASH_COPY
    test_leak_copy((volatile uint8_t *)(uintptr_t)PK_TEST_LEAK_FLASH_ADDR, frame,
                   n < PK_TEST_LEAK_COPY_BYTES ? n : PK_TEST_LEAK_COPY_BYTES, 0);
#elif PEEKLESS_TEST_LEAK == PK_LEAK_WINDOW_COPY
    {
        const size_t m = n < PK_TEST_LEAK_COPY_BYTES ? n : PK_TEST_LEAK_COPY_BYTES;
        test_leak_copy((volatile uint8_t *)(uintptr_t)(PK_BOARD_BANK_BASE +
                                                       PK_BOARD_BANK_BYTES - m),
                       frame, m, 0);
    }
#elif PEEKLESS_TEST_LEAK == PK_LEAK_NOINIT_COPY
    test_leak_copy(test_leak_noinit, frame, n < sizeof test_leak_noinit ? n
                   : sizeof test_leak_noinit, 0);
#elif PEEKLESS_TEST_LEAK == PK_LEAK_OTHER_UART
    {
        /* CMSDK UART1, one block after UART0 on every emulated board. */
        const uintptr_t uart1 = PK_BOARD_UART0_BASE + 0x1000u;
        PK_REG32(uart1 + 0x10u) = 16u; /* BAUDDIV */
        PK_REG32(uart1 + 0x08u) = 1u;  /* CTRL: TX enable */
        for (size_t i = 0; i < (n < 64u ? n : 64u); i++) {
            while (PK_REG32(uart1 + 0x04u) & 1u) { /* TX full */
            }
            PK_REG32(uart1) = frame[i];
        }
    }
#endif
}

bool pk_test_leak_skip_framebuffer_wipe(void)
{
    return PEEKLESS_TEST_LEAK == PK_LEAK_RAM_REMNANT; /* TEST ONLY: frame stays in RAM */
}
