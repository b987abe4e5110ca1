/*
 * TEST ONLY -- deliberately leaky variants, so the privacy audit has known leaks to
 * catch. Built only with `make LEAK=<name>` (HIL or production build: a production
 * variant is the shipped image plus one leak, which is what the audit must see through).
 * The Makefile compiles pk_test_leaks.c into no other image, and keeps the marker
 * pk_test_leak_variant in every leaky ELF: the production ELF check (host_tools/
 * elf_check.py, deny-list "leak") fails on it, so none can pass for a shipped image.
 * Never ship one.
 *
 * The variant is chosen by PEEKLESS_TEST_LEAK, one of the PK_LEAK_* ids below:
 *
 *   raw_frame       after each DECISION, the frame's bytes, unframed
 *   hex_frame       after each DECISION, the frame as lowercase ASCII hex, unframed
 *   base64_frame    after each DECISION, the frame as base64 (RFC 4648, padded), unframed
 *   zlib_thumbnail  after each DECISION, a 24x24 gray thumbnail as a zlib stream (stored
 *                   deflate block + adler32), unframed
 *   pixel_bit       DECISION flags bit 1 = LSB of frame byte (seq mod frame bytes):
 *                   grammatical framing, but it breaks the declared schema (bits 1-7 = 0)
 *   extra_record    after each DECISION, a well-framed record of undeclared type 0x05
 *                   whose 16-byte payload is the frame's first 16 bytes
 *   ram_remnant     the frame copy is not wiped after inference (output is clean)
 *   decision_pixel  the declared decision bit itself carries the top bit of one pixel
 *                   byte (the middle of the frame): a perfectly valid DECISION record
 *   pixel_delay     before each DECISION, a delay of (low 2 bits of one pixel byte) x 3
 *                   instructions: the bytes are clean, their timing is not
 *   record_fields   the DECISION's seq field carries the frame's mean byte in its top
 *                   8 bits (a declared record type, a declared field)
 *   ram_xor         a copy of the frame XORed with 0x5A is kept in RAM, never wiped
 *   flash_copy      the frame is archived to the writable code ("flash") region
 *   window_copy     the frame is copied to the far end of the camera/sensor window
 *   noinit_copy     the frame is archived to a .noinit buffer
 *   other_uart      after each DECISION, the frame's first 64 bytes on UART1, a port the
 *                   protocol never uses (emulated boards)
 */
#ifndef PK_TEST_LEAKS_H
#define PK_TEST_LEAKS_H

#include <stdbool.h>
#include <stdint.h>

#include "pk_config.h"
#include "pk_format.h"

#if !PEEKLESS_TEST_LEAK
#error "pk_test_leaks.h is TEST ONLY: include it only in builds with LEAK set"
#endif

#define PK_LEAK_RAW_FRAME 1
#define PK_LEAK_HEX_FRAME 2
#define PK_LEAK_BASE64_FRAME 3
#define PK_LEAK_ZLIB_THUMBNAIL 4
#define PK_LEAK_PIXEL_BIT 5
#define PK_LEAK_EXTRA_RECORD 6
#define PK_LEAK_RAM_REMNANT 7
#define PK_LEAK_DECISION_PIXEL 8
#define PK_LEAK_PIXEL_DELAY 9
#define PK_LEAK_RECORD_FIELDS 10
#define PK_LEAK_RAM_XOR 11
#define PK_LEAK_FLASH_COPY 12
#define PK_LEAK_WINDOW_COPY 13
#define PK_LEAK_NOINIT_COPY 14
#define PK_LEAK_OTHER_UART 15

/* Record type of the extra_record leak: not in docs/PROTOCOL.md on purpose. */
#define PK_TEST_LEAK_EXTRA_RECORD_TYPE 0x05u
#define PK_TEST_LEAK_EXTRA_RECORD_BYTES 16u
/* Thumbnail side of the zlib_thumbnail leak. */
#define PK_TEST_LEAK_THUMB_SIDE 24u
/* Largest frame the copying leaks keep (QVGA RGB565). */
#define PK_TEST_LEAK_COPY_BYTES (320u * 240u * 2u)

/* The marker every leaky image keeps (the Makefile forces it into the link). */
extern const char pk_test_leak_variant[];

/*
 * TEST ONLY. Called instead of the normal DECISION for frame `seq`. frame: in, the
 * captured frame as described by *fmt. Returns true when it sent the DECISION itself,
 * false when the caller must send the normal one.
 */
bool pk_test_leak_replace_decision(uint32_t seq, bool person, const uint8_t *frame,
                                   const pk_format *fmt);

/* TEST ONLY. Called after frame `seq`'s DECISION, before the wipe: the leak happens. */
void pk_test_leak_after_decision(uint32_t seq, const uint8_t *frame, const pk_format *fmt);

/* TEST ONLY. True when the frame buffer must be left unwiped (ram_remnant). */
bool pk_test_leak_skip_framebuffer_wipe(void);

#endif /* PK_TEST_LEAKS_H */
