/*
 * Port: ESP32-S3-EYE (ESP32-S3, 8 MiB octal PSRAM, OV2640 camera) through Espressif's
 * esp32-camera driver as shipped with the Arduino-ESP32 core (esp_camera_init(),
 * esp_camera_fb_get(), esp_camera_fb_return()); pins from the board's schematic.
 *
 * UNTESTED: written against the driver's documented API; PlatformIO needs its registry
 * for the espressif32 platform (firmware/README.md, "Real boards"). Production only.
 *
 * Rows: esp32-camera's public API gives whole frames. Its capture is DMA into small
 * line buffers (a few rows, the LCD_CAM peripheral with GDMA on the S3) that a driver
 * task copies into a frame buffer, here one, in PSRAM. So this port hands the app one
 * row at a time from that frame buffer (pk_hal_camera_read_rows copies a row into the
 * app's line buffer and wipes it in the frame buffer at once) and wipes what the app
 * did not read before handing the buffer back (esp_camera_fb_return). The app's
 * internal RAM never holds more than its line buffer; the driver's PSRAM frame buffer
 * does hold the frame while it is being read, as the camera's FIFO would.
 *
 * What it takes to have no frame buffer at all: replace the driver's copy task (the
 * DMA end-of-transfer handler that copies each half of the DMA line buffer into the
 * frame buffer) with one that hands each DMA half-buffer to pk_hal_camera_read_rows
 * through a ring of a few rows. The DMA does not wait: the app must take every row
 * before the DMA overwrites it (ring depth x row time), so with a fused-band model the
 * sensor's frame rate or the crop (OV2640 window registers) must leave that time; count
 * the EOF events to detect an overrun. ESP-IDF 5.3's esp_cam_ctlr DVP driver, with a
 * receive buffer of a few rows per transaction, is the other way there.
 */
#include <Arduino.h>
#include <string.h>

#include "esp_camera.h"

extern "C" {
#include "pk_hal.h"
#include "pk_wipe.h"
int peekless_main(int argc, char **argv); /* app/main.c, renamed by -Dmain=peekless_main */
}

/* ESP32-S3-EYE camera pins (GPIO numbers). */
enum {
    CAM_PIN_XCLK = 15, CAM_PIN_SIOD = 4, CAM_PIN_SIOC = 5,
    CAM_PIN_D0 = 11, CAM_PIN_D1 = 9, CAM_PIN_D2 = 8, CAM_PIN_D3 = 10,
    CAM_PIN_D4 = 12, CAM_PIN_D5 = 18, CAM_PIN_D6 = 17, CAM_PIN_D7 = 16,
    CAM_PIN_VSYNC = 6, CAM_PIN_HREF = 7, CAM_PIN_PCLK = 13,
};

/* esp32-camera delivers RGB565 high byte first; ours is little-endian (PROTOCOL.md). */
#ifndef PK_ESP_RGB565_SWAP
#define PK_ESP_RGB565_SWAP 1
#endif

static bool camera_ready;

static int camera_start(const pk_format *fmt)
{
    camera_config_t c;

    memset(&c, 0, sizeof c);
    c.pin_pwdn = -1;
    c.pin_reset = -1;
    c.pin_xclk = CAM_PIN_XCLK;
    c.pin_sccb_sda = CAM_PIN_SIOD;
    c.pin_sccb_scl = CAM_PIN_SIOC;
    c.pin_d0 = CAM_PIN_D0;
    c.pin_d1 = CAM_PIN_D1;
    c.pin_d2 = CAM_PIN_D2;
    c.pin_d3 = CAM_PIN_D3;
    c.pin_d4 = CAM_PIN_D4;
    c.pin_d5 = CAM_PIN_D5;
    c.pin_d6 = CAM_PIN_D6;
    c.pin_d7 = CAM_PIN_D7;
    c.pin_vsync = CAM_PIN_VSYNC;
    c.pin_href = CAM_PIN_HREF;
    c.pin_pclk = CAM_PIN_PCLK;
    c.xclk_freq_hz = 20000000;
    c.ledc_timer = LEDC_TIMER_0;
    c.ledc_channel = LEDC_CHANNEL_0;
    switch (fmt->pixfmt) {
    case PK_PIXFMT_RGB565:
        c.pixel_format = PIXFORMAT_RGB565;
        break;
    case PK_PIXFMT_YUYV:
        c.pixel_format = PIXFORMAT_YUV422;
        break;
    case PK_PIXFMT_GRAY8:
        c.pixel_format = PIXFORMAT_GRAYSCALE;
        break;
    default:
        return PK_HAL_ERR_FORMAT;
    }
    if (fmt->width == 320 && fmt->height == 240) {
        c.frame_size = FRAMESIZE_QVGA;
    } else if (fmt->width == 160 && fmt->height == 120) {
        c.frame_size = FRAMESIZE_QQVGA;
    } else {
        return PK_HAL_ERR_FORMAT;
    }
    c.fb_count = 1;
    c.fb_location = CAMERA_FB_IN_PSRAM;
    c.grab_mode = CAMERA_GRAB_WHEN_EMPTY;
    return esp_camera_init(&c) == ESP_OK ? PK_HAL_OK : PK_HAL_ERR_SOURCE;
}

extern "C" int pk_hal_init(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    Serial.begin(115200);
    return PK_HAL_OK;
}

extern "C" void pk_hal_serial_write(const uint8_t *data, size_t len)
{
    Serial.write(data, len);
}

static camera_fb_t *frame;   /* the driver's frame being read, or NULL */
static pk_format frame_fmt; /* its format */
static uint32_t next_row;   /* rows handed to the app so far */

extern "C" int pk_hal_camera_begin(pk_format *fmt)
{
    if (!camera_ready) {
        const int rc = camera_start(fmt);
        if (rc != PK_HAL_OK) {
            return rc;
        }
        camera_ready = true;
    }
    pk_hal_camera_end();
    frame = esp_camera_fb_get();
    if (frame == NULL) {
        return PK_HAL_ERR_SOURCE;
    }
    fmt->width = (uint16_t)frame->width;
    fmt->height = (uint16_t)frame->height;
    fmt->pitch = (uint32_t)pk_format_row_bytes(fmt);
    if ((size_t)fmt->pitch * fmt->height != frame->len) {
        pk_hal_camera_end();
        return PK_HAL_ERR_FORMAT; /* not the raw format asked for (e.g. JPEG) */
    }
    frame_fmt = *fmt;
    next_row = 0;
    return PK_HAL_OK;
}

extern "C" int pk_hal_camera_read_rows(uint8_t *dst, size_t capacity, uint16_t nrows)
{
    if (frame == NULL) {
        return PK_HAL_ERR_SOURCE;
    }
    if (nrows > frame_fmt.height - next_row || (size_t)nrows * frame_fmt.pitch > capacity) {
        return PK_HAL_ERR_CAPACITY;
    }
    uint8_t *const src = frame->buf + (size_t)next_row * frame_fmt.pitch;
    const size_t n = (size_t)nrows * frame_fmt.pitch;
    memcpy(dst, src, n);
    pk_wipe(src, n); /* read rows are gone from the driver's buffer too */
#if PK_ESP_RGB565_SWAP
    if (frame_fmt.pixfmt == PK_PIXFMT_RGB565) {
        for (size_t i = 0; i + 1 < n; i += 2) {
            const uint8_t t = dst[i];
            dst[i] = dst[i + 1];
            dst[i + 1] = t;
        }
    }
#endif
    next_row += nrows;
    return PK_HAL_OK;
}

extern "C" void pk_hal_camera_end(void)
{
    if (frame != NULL) {
        pk_wipe(frame->buf, frame->len); /* rows not read, and the rest */
        esp_camera_fb_return(frame);
        frame = NULL;
    }
}

extern "C" const char *pk_hal_board_name(void)
{
    return "esp32s3eye";
}

extern "C" void pk_hal_exit(int status)
{
    (void)status;
    for (;;) {
        delay(1000);
    }
}

void setup()
{
    peekless_main(0, nullptr); /* never returns */
}

void loop()
{
}
