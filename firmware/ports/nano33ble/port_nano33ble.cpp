/*
 * Port: Arduino Nano 33 BLE Sense (nRF52840, Cortex-M4F, 1 MiB flash, 256 KiB RAM) with the
 * OV7675 camera of the Tiny Machine Learning Kit, through the Arduino_OV767X library
 * (Camera.begin(resolution, format, fps, sensor), Camera.readFrame(buffer)).
 *
 * UNTESTED: written against the library's documented API; PlatformIO needs its registry
 * for the nordicnrf52 platform and the library (firmware/README.md, "Real boards").
 * Production build only: no frame bank, no command input.
 *
 * RAM: a QVGA RGB565 frame (150 KiB) plus the MLPerf model's arena and input (~64 KiB) does
 * not leave Mbed OS enough of the 256 KiB, so this port asks for QCIF (176x144, 49.5 KiB):
 * build with -DPK_CAMERA_WIDTH=176 -DPK_CAMERA_HEIGHT=144 -DPK_FRAMEBUFFER_BYTES=50688
 * (platformio.ini sets them). Preprocessing crops and resizes any size.
 */
#include <Arduino.h>
#include <Arduino_OV767X.h>

extern "C" {
#include "pk_hal.h"
#include "pk_wipe.h"
int peekless_main(int argc, char **argv); /* app/main.c, renamed by -Dmain=peekless_main */
}

/*
 * Byte order of RGB565 as readFrame() stores it: the OV767X sends the high byte first.
 * Our format (docs/PROTOCOL.md) is little-endian, so the port swaps each pair. To be
 * checked on hardware with the library's test pattern (Camera.testPattern()).
 */
#ifndef PK_NANO_RGB565_SWAP
#define PK_NANO_RGB565_SWAP 1
#endif

static bool camera_ready;

extern "C" int pk_hal_init(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    Serial.begin(115200);
    while (!Serial) {
    }
    return PK_HAL_OK;
}

extern "C" void pk_hal_serial_write(const uint8_t *data, size_t len)
{
    Serial.write(data, len);
}

extern "C" int pk_hal_camera_capture(uint8_t *fb, size_t capacity, pk_format *fmt)
{
    if (!camera_ready) {
        const int res = fmt->width == 320 ? QVGA : fmt->width == 176 ? QCIF : -1;
        const int pix = fmt->pixfmt == PK_PIXFMT_RGB565   ? RGB565
                        : fmt->pixfmt == PK_PIXFMT_GRAY8  ? GRAYSCALE
                        : fmt->pixfmt == PK_PIXFMT_YUYV   ? YUV422
                                                          : -1;
        if (res < 0 || pix < 0) {
            return PK_HAL_ERR_FORMAT;
        }
        if (!Camera.begin(res, pix, 1, OV7675)) {
            return PK_HAL_ERR_SOURCE;
        }
        camera_ready = true;
    }
    const size_t n = (size_t)Camera.width() * Camera.height() * Camera.bytesPerPixel();
    if (n > capacity) {
        return PK_HAL_ERR_CAPACITY;
    }
    Camera.readFrame(fb); /* straight into the app's framebuffer: no other copy */
#if PK_NANO_RGB565_SWAP
    if (fmt->pixfmt == PK_PIXFMT_RGB565) {
        for (size_t i = 0; i + 1 < n; i += 2) {
            const uint8_t t = fb[i];
            fb[i] = fb[i + 1];
            fb[i + 1] = t;
        }
    }
#endif
    fmt->width = (uint16_t)Camera.width();
    fmt->height = (uint16_t)Camera.height();
    return PK_HAL_OK;
}

extern "C" const char *pk_hal_board_name(void)
{
    return "nano33ble";
}

extern "C" void pk_hal_exit(int status)
{
    (void)status;
    noInterrupts();
    for (;;) {
    }
}

void setup()
{
    peekless_main(0, nullptr); /* never returns: the per-frame loop runs forever */
}

void loop()
{
}
