/*
 * Build configuration: every option that changes results or privacy, with its default.
 * The Makefile sets these with -D; nothing else should.
 */
#ifndef PK_CONFIG_H
#define PK_CONFIG_H

/* Firmware version reported in HELLO (ASCII, at most 12 characters). */
#define PK_FW_VERSION "0.1.0"

/*
 * PEEKLESS_BUILD_HIL (default 0, opt-in): compile the test input path (frame bank
 * camera), STATS/BYE records and exit-on-end-of-bank. A production image has 0 and
 * contains no way to feed it frames other than its camera.
 */
#ifndef PEEKLESS_BUILD_HIL
#define PEEKLESS_BUILD_HIL 0
#endif

/*
 * PEEKLESS_TEST_LEAK_RAW_FRAME (default 0, TEST ONLY): the deliberately leaky variant.
 * After each DECISION the raw framebuffer is written to the serial link unframed, so
 * the privacy audit has something it must catch. Never ship it; HIL builds only.
 */
#ifndef PEEKLESS_TEST_LEAK_RAW_FRAME
#define PEEKLESS_TEST_LEAK_RAW_FRAME 0
#endif

#if PEEKLESS_TEST_LEAK_RAW_FRAME && !PEEKLESS_BUILD_HIL
#error "PEEKLESS_TEST_LEAK_RAW_FRAME is a test-only variant: HIL builds only"
#endif

#endif /* PK_CONFIG_H */
