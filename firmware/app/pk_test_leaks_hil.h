/*
 * TEST ONLY -- deliberately leaky HIL variants, so the privacy audit has known leaks to
 * catch. Built only with `make BUILD=hil LEAK=<name>` (the Makefile refuses LEAK with
 * BUILD=production and compiles pk_test_leaks_hil.c into no other image). Never ship.
 *
 * The variant is chosen by PEEKLESS_TEST_LEAK (one of the PK_LEAK_* ids in pk_config.h):
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
 *   ram_remnant     the framebuffer is not wiped after inference (output is clean; the
 *                   RAM read-back at pk_hil_checkpoint must find the frame)
 */
#ifndef PK_TEST_LEAKS_HIL_H
#define PK_TEST_LEAKS_HIL_H

#include <stdbool.h>
#include <stdint.h>

#include "pk_config.h"
#include "pk_format.h"

#if !PEEKLESS_BUILD_HIL || !PEEKLESS_TEST_LEAK
#error "pk_test_leaks_hil.h is TEST ONLY: include it only in HIL builds with LEAK set"
#endif

/* Record type of the extra_record leak: not in docs/PROTOCOL.md on purpose. */
#define PK_TEST_LEAK_EXTRA_RECORD_TYPE 0x05u
#define PK_TEST_LEAK_EXTRA_RECORD_BYTES 16u
/* Thumbnail side of the zlib_thumbnail leak. */
#define PK_TEST_LEAK_THUMB_SIDE 24u

/*
 * TEST ONLY. Called instead of the normal DECISION for frame `seq`. frame: in, the
 * captured frame as described by *fmt. Returns true when it sent the DECISION itself
 * (pixel_bit), false when the caller must send the normal one.
 */
bool pk_test_leak_replace_decision(uint32_t seq, bool person, const uint8_t *frame,
                                   const pk_format *fmt);

/* TEST ONLY. Called after frame `seq`'s DECISION, before the wipe: the output leaks. */
void pk_test_leak_after_decision(uint32_t seq, const uint8_t *frame, const pk_format *fmt);

/* TEST ONLY. True when the framebuffer must be left unwiped (ram_remnant). */
bool pk_test_leak_skip_framebuffer_wipe(void);

#endif /* PK_TEST_LEAKS_HIL_H */
