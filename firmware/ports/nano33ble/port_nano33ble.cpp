/*
 * Port: Arduino Nano 33 BLE Sense (nRF52840, Cortex-M4F, 1 MiB flash, 256 KiB RAM) with the
 * OV7675 camera of the Tiny Machine Learning Kit. The Arduino_OV767X library configures
 * the sensor (Camera.begin(resolution, format, fps, sensor)); the rows are read here, one
 * at a time, straight from the camera's parallel bus into the app's line buffer
 * (Camera.readFrame() would need a whole-frame buffer, which this firmware does not have).
 *
 * UNTESTED: written against the library's documented API and the nRF52840's GPIO
 * registers; PlatformIO needs its registry for the nordicnrf52 platform and the library
 * (firmware/README.md, "Real boards"). Production build only: no frame bank, no command
 * input.
 *
 * What the port must do to feed rows (and what to check on the hardware):
 *   - begin: wait for VSYNC (start of frame), then for each row HREF high, one byte per
 *     PCLK rising edge (pitch bytes), HREF low. The sensor has no FIFO and no flow
 *     control: a row not read while HREF is high is gone. So the app's work between two
 *     read_rows calls (preprocessing one row; with a fused-band model, the model's band
 *     too) must fit in the sensor's horizontal blanking. The port runs the OV7675 at
 *     1 frame/s (Camera.begin's slowest rate) and reads a row only from its start (it
 *     waits for HREF low, then high); if HREF is already high when a read begins the
 *     row would be torn, so it returns PK_HAL_ERR_SOURCE and the frame is dropped
 *     (production halts: see main.c). If that happens, slow the pixel clock further
 *     (CLKRC, register 0x11) or add dummy lines (EXHCH/ADVFL) and measure again. A row
 *     missed whole (the app late by more than a row) cannot be seen from the bus: count
 *     HREF edges in hardware (GPIOTE event -> PPI -> TIMER in counter mode) and compare
 *     with the rows read, before trusting a build on the hardware.
 *   - the byte order of RGB565 (PK_NANO_RGB565_SWAP) with Camera.testPattern().
 *   - RAM: a QCIF row is 352 bytes; the image holds one row (camera_line), the box sums
 *     and the model's arena: the MLPerf VWW model fits the 256 KiB beside Mbed OS.
 */
#include <Arduino.h>
#include <Arduino_OV767X.h>

extern "C" {
#include "pk_hal.h"
#include "pk_wipe.h"
int peekless_main(int argc, char **argv); /* app/main.c, renamed by -Dmain=peekless_main */
}

/*
 * Byte order of RGB565 on the bus: the OV767X sends the high byte first. Our format
 * (docs/PROTOCOL.md) is little-endian, so the port swaps each pair. To be checked on
 * hardware with the library's test pattern (Camera.testPattern()).
 */
#ifndef PK_NANO_RGB565_SWAP
#define PK_NANO_RGB565_SWAP 1
#endif

/* One input pin as a GPIO port IN register and a bit mask (nRF52840: P0 and P1). */
typedef struct {
    volatile uint32_t *in;
    uint32_t mask;
} bus_pin;

static bool camera_ready;
static bus_pin pin_vsync, pin_href, pin_pclk, pin_data[8];
static pk_format frame;
static uint32_t rows_left; /* rows of the current frame not read yet */

static bus_pin bus_pin_of(int arduino_pin)
{
    const uint32_t n = (uint32_t)digitalPinToPinName(arduino_pin); /* nRF pin 0..47 */
    bus_pin p = {(n < 32) ? &NRF_P0->IN : &NRF_P1->IN, 1u << (n % 32)};
    return p;
}

static inline bool high(const bus_pin &p)
{
    return (*p.in & p.mask) != 0;
}

/* One byte of the bus on a PCLK rising edge. */
static inline uint8_t bus_byte(void)
{
    while (high(pin_pclk)) {
    }
    while (!high(pin_pclk)) {
    }
    const uint32_t p0 = NRF_P0->IN, p1 = NRF_P1->IN;
    uint8_t b = 0;
    for (int i = 0; i < 8; i++) {
        const uint32_t in = pin_data[i].in == &NRF_P0->IN ? p0 : p1;
        b |= (uint8_t)(((in & pin_data[i].mask) != 0) << i);
    }
    return b;
}

static int camera_start(pk_format *fmt)
{
    const int res = fmt->width == 320 && fmt->height == 240   ? QVGA
                    : fmt->width == 176 && fmt->height == 144 ? QCIF
                                                              : -1;
    /* The bus carries 2 bytes per pixel in both; (the library's GRAYSCALE is YUV422 with
     * every other byte dropped while reading, which this row reader does not do: ask for
     * YUYV and let preprocessing make gray). */
    const int pix = fmt->pixfmt == PK_PIXFMT_RGB565 ? RGB565
                    : fmt->pixfmt == PK_PIXFMT_YUYV ? YUV422
                                                    : -1;
    if (res < 0 || pix < 0) {
        return PK_HAL_ERR_FORMAT;
    }
    if (!Camera.begin(res, pix, 1, OV7675)) {
        return PK_HAL_ERR_SOURCE;
    }
    pin_vsync = bus_pin_of(OV7670_VSYNC);
    pin_href = bus_pin_of(OV7670_HREF);
    pin_pclk = bus_pin_of(OV7670_PLK);
    const int data_pins[8] = {OV7670_D0, OV7670_D1, OV7670_D2, OV7670_D3,
                              OV7670_D4, OV7670_D5, OV7670_D6, OV7670_D7};
    for (int i = 0; i < 8; i++) {
        pin_data[i] = bus_pin_of(data_pins[i]);
    }
    return PK_HAL_OK;
}

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

extern "C" int pk_hal_camera_begin(pk_format *fmt)
{
    if (!camera_ready) {
        const int rc = camera_start(fmt);
        if (rc != PK_HAL_OK) {
            return rc;
        }
        camera_ready = true;
    }
    fmt->width = (uint16_t)Camera.width();
    fmt->height = (uint16_t)Camera.height();
    fmt->pitch = (uint32_t)Camera.width() * Camera.bytesPerPixel();
    frame = *fmt;
    /* The start of a frame: VSYNC pulses high between frames. */
    while (!high(pin_vsync)) {
    }
    while (high(pin_vsync)) {
    }
    rows_left = frame.height;
    return PK_HAL_OK;
}

extern "C" int pk_hal_camera_read_rows(uint8_t *dst, size_t capacity, uint16_t nrows)
{
    if (rows_left == 0) {
        return PK_HAL_ERR_SOURCE;
    }
    if (nrows > rows_left || (size_t)nrows * frame.pitch > capacity) {
        return PK_HAL_ERR_CAPACITY;
    }
    for (uint16_t r = 0; r < nrows; r++, rows_left--) {
        uint8_t *row = dst + (size_t)r * frame.pitch;
        if (high(pin_href)) {
            return PK_HAL_ERR_SOURCE; /* this row started before we came: torn */
        }
        noInterrupts(); /* a row is timed by the sensor: no interrupt in the middle */
        while (!high(pin_href)) {
        }
        for (uint32_t i = 0; i < frame.pitch; i++) {
            row[i] = bus_byte();
        }
        interrupts();
#if PK_NANO_RGB565_SWAP
        if (frame.pixfmt == PK_PIXFMT_RGB565) {
            for (uint32_t i = 0; i + 1 < frame.pitch; i += 2) {
                const uint8_t t = row[i];
                row[i] = row[i + 1];
                row[i + 1] = t;
            }
        }
#endif
    }
    return PK_HAL_OK;
}

extern "C" void pk_hal_camera_end(void)
{
    /* Rows not read stay on the sensor's bus: nothing of them is in RAM to wipe. */
    rows_left = 0;
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
