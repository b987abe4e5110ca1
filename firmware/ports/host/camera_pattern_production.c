/*
 * Production camera of the host port, which has no sensor: the built-in test pattern
 * (ports/common/pk_pattern.h) at whatever size and format the app asks for, row by row.
 * It has no input path: nothing outside the image decides pixels.
 */
#include "pk_hal.h"
#include "pk_pattern.h"

static pk_format frame;    /* the frame being read */
static uint32_t next_row;  /* rows delivered so far */
static uint32_t frame_no;  /* moves the bars */
static int frame_open;     /* a frame is begun */

int pk_hal_camera_begin(pk_format *fmt)
{
    const int rc = pk_pattern_format(fmt);

    if (rc != PK_HAL_OK) {
        return rc;
    }
    frame = *fmt;
    next_row = 0;
    frame_open = 1;
    return PK_HAL_OK;
}

int pk_hal_camera_read_rows(uint8_t *dst, size_t capacity, uint16_t nrows)
{
    if (!frame_open) {
        return PK_HAL_ERR_SOURCE;
    }
    if (nrows > frame.height - next_row || (size_t)nrows * frame.pitch > capacity) {
        return PK_HAL_ERR_CAPACITY;
    }
    for (uint32_t i = 0; i < nrows; i++) {
        pk_pattern_row(&frame, frame_no, next_row++, dst + (size_t)i * frame.pitch);
    }
    return PK_HAL_OK;
}

void pk_hal_camera_end(void)
{
    if (frame_open) {
        frame_open = 0;
        frame_no++;
    }
}
