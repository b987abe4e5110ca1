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
 * PEEKLESS_TEST_LEAK (default 0 = none, TEST ONLY): a deliberately leaky variant, one of
 * the PK_LEAK_* ids below, set by `make BUILD=hil LEAK=<name>` (see pk_test_leaks_hil.h
 * for what each one leaks). They exist so the privacy audit has known leaks to catch.
 * Never ship one; HIL builds only.
 */
#define PK_LEAK_NONE 0
#define PK_LEAK_RAW_FRAME 1
#define PK_LEAK_HEX_FRAME 2
#define PK_LEAK_BASE64_FRAME 3
#define PK_LEAK_ZLIB_THUMBNAIL 4
#define PK_LEAK_PIXEL_BIT 5
#define PK_LEAK_EXTRA_RECORD 6
#define PK_LEAK_RAM_REMNANT 7
#ifndef PEEKLESS_TEST_LEAK
#define PEEKLESS_TEST_LEAK PK_LEAK_NONE
#endif

#if PEEKLESS_TEST_LEAK && !PEEKLESS_BUILD_HIL
#error "PEEKLESS_TEST_LEAK is a test-only variant: HIL builds only"
#endif

/*
 * PEEKLESS_POLICY (default 0 = per-frame): what the device emits, set by
 * `make POLICY=per-frame|event`. Per-frame (0) sends one DECISION per frame: 1 bit per
 * frame. Event-only (1) sends a DECISION for the first frame and then only for a frame
 * whose decision differs from the last one sent: 1 bit per change (the seq field says
 * which frame changed). Both are reported in HELLO.
 */
#define PK_POLICY_ID_PER_FRAME 0
#define PK_POLICY_ID_EVENT_ONLY 1
#ifndef PEEKLESS_POLICY
#define PEEKLESS_POLICY PK_POLICY_ID_PER_FRAME
#endif
#if PEEKLESS_POLICY != PK_POLICY_ID_PER_FRAME && PEEKLESS_POLICY != PK_POLICY_ID_EVENT_ONLY
#error "PEEKLESS_POLICY must be 0 (per-frame) or 1 (event-only)"
#endif

/*
 * What the app asks the camera for (a real sensor's native output; the HIL frame bank
 * and the host camera deliver whatever the bank holds instead). Default: QVGA RGB565,
 * what OV7670/OV7675/OV2640-class modules give. The device crops, resizes and converts
 * to the model input itself (pk_preprocess.h).
 */
#ifndef PK_CAMERA_WIDTH
#define PK_CAMERA_WIDTH 320
#endif
#ifndef PK_CAMERA_HEIGHT
#define PK_CAMERA_HEIGHT 240
#endif
#ifndef PK_CAMERA_PIXFMT
#define PK_CAMERA_PIXFMT PK_PIXFMT_RGB565
#endif

/*
 * PK_CAMERA_LINE_BYTES (default 1280): the camera line buffer, the only place a camera
 * row is held: one row of up to 640 pixels of RGB565 or YUYV (VGA width), 1280 of GRAY8,
 * 426 of RGB888. Frames of any height are streamed through it row by row; a wider row
 * is refused (exit status 3 in HIL builds).
 */
#ifndef PK_CAMERA_LINE_BYTES
#define PK_CAMERA_LINE_BYTES 1280u
#endif

/*
 * PK_TEST_LEAK_FRAME_BYTES (TEST ONLY, LEAK builds): the leaky variants keep a whole
 * frame (that is what they leak), up to this many bytes; larger frames are refused.
 * Clean builds have no frame-sized buffer at all.
 */
#ifndef PK_TEST_LEAK_FRAME_BYTES
#define PK_TEST_LEAK_FRAME_BYTES (320u * 240u * 2u)
#endif

#endif /* PK_CONFIG_H */
