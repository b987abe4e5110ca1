"""Camera frame to model input, bit for bit as the device does it (firmware/app/pk_preprocess.c).

Camera modules give RGB565, YUV 4:2:2 (YUYV) or GRAY8 frames at sizes such as QVGA
(320x240); the model wants e.g. 96x96 gray or RGB int8. The steps and every formula are
specified in docs/PROTOCOL.md ("Preprocessing"); this is the host's implementation, used
by training and evaluation so that the host and the device see the same pixels.
tests/test_preprocess_parity.py checks it against the C code on random frames.

    x = preprocess_frame(frame_bytes, 320, 240, FORMAT_RGB565, 96, 96, 3)  # int8 [96, 96, 3]
"""

from __future__ import annotations

import numpy as np

# Pixel format codes: the frame bank's `format` field and firmware's PK_PIXFMT_*.
FORMAT_GRAY8 = 0
FORMAT_RGB888 = 1
FORMAT_RGB565 = 2  # little-endian u16: RRRRRGGG GGGBBBBB
FORMAT_YUYV = 3  # YUV 4:2:2, Y0 U Y1 V per pixel pair
BYTES_PER_PIXEL = {FORMAT_GRAY8: 1, FORMAT_RGB888: 3, FORMAT_RGB565: 2, FORMAT_YUYV: 2}
FORMAT_NAMES = {
    "gray8": FORMAT_GRAY8,
    "rgb888": FORMAT_RGB888,
    "rgb565": FORMAT_RGB565,
    "yuyv": FORMAT_YUYV,
}
MAX_PIXELS = 1 << 24  # the firmware's PK_PRE_MAX_PIXELS
MAX_BOX_PIXELS = 1 << 16  # the firmware's PK_PRE_MAX_BOX_PIXELS


def frame_bytes(width: int, height: int, fmt: int) -> int:
    """Bytes in one frame of ``fmt`` at ``width`` x ``height``."""
    return width * height * BYTES_PER_PIXEL[fmt]


def centre_crop(width: int, height: int, model_h: int, model_w: int) -> tuple[int, int, int, int]:
    """(x0, y0, crop_w, crop_h): the largest centred crop with the model's aspect ratio."""
    if width * model_h >= height * model_w:
        ch, cw = height, height * model_w // model_h
    else:
        cw, ch = width, width * model_h // model_w
    cw, ch = max(cw, 1), max(ch, 1)
    return (width - cw) // 2, (height - ch) // 2, cw, ch


def box_bounds(start: int, size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Source [lo, hi) for each of ``out`` outputs over ``size`` pixels from ``start``."""
    o = np.arange(out, dtype=np.int64)
    lo = start + o * size // out
    hi = start + (o + 1) * size // out
    return lo, np.maximum(hi, lo + 1)


def to_rgb(frame: np.ndarray, width: int, height: int, fmt: int) -> np.ndarray:
    """Every pixel as R, G, B: int64 [height, width, 3] (docs/PROTOCOL.md step 2)."""
    if fmt == FORMAT_GRAY8:
        g = frame.reshape(height, width).astype(np.int64)
        return np.repeat(g[:, :, None], 3, axis=2)
    if fmt == FORMAT_RGB888:
        return frame.reshape(height, width, 3).astype(np.int64)
    if fmt == FORMAT_RGB565:
        b = frame.reshape(height, width, 2).astype(np.int64)
        v = b[:, :, 0] | (b[:, :, 1] << 8)
        r5, g6, b5 = v >> 11, (v >> 5) & 0x3F, v & 0x1F
        return np.stack([(r5 << 3) | (r5 >> 2), (g6 << 2) | (g6 >> 4), (b5 << 3) | (b5 >> 2)], 2)
    if fmt == FORMAT_YUYV:
        q = frame.reshape(height, width // 2, 4).astype(np.int64)
        y = q[:, :, [0, 2]].reshape(height, width)
        u = np.repeat(q[:, :, 1], 2, axis=1)
        v = np.repeat(q[:, :, 3], 2, axis=1)
        c, d, e = y - 16, u - 128, v - 128

        def clamp_shift8(x: np.ndarray) -> np.ndarray:
            return np.clip(np.where(x < 0, 0, x >> 8), 0, 255)

        return np.stack(
            [
                clamp_shift8(298 * c + 409 * e + 128),
                clamp_shift8(298 * c - 100 * d - 208 * e + 128),
                clamp_shift8(298 * c + 516 * d + 128),
            ],
            2,
        )
    raise ValueError(f"unknown pixel format {fmt}")


def preprocess_frame(
    frame: bytes | np.ndarray,
    width: int,
    height: int,
    fmt: int | str,
    model_h: int,
    model_w: int,
    model_c: int,
) -> np.ndarray:
    """One camera frame -> the model's int8 input [model_h, model_w, model_c] (HWC).

    ``frame``: the raw bytes of one frame (or a uint8 array of them, any shape), row-major,
    no row padding. ``fmt``: a FORMAT_* code or its name ("gray8", "rgb888", "rgb565",
    "yuyv"). ``model_c``: 1 (gray) or 3 (RGB). Steps (docs/PROTOCOL.md, "Preprocessing"):
    centre crop to the model's aspect ratio; each pixel to RGB and, for one channel, to
    gray ``(77 R + 150 G + 29 B + 128) >> 8``; box-average resize, rounded half up;
    ``value - 128``. Raises ValueError where the firmware's pk_preprocess() refuses.
    """
    if isinstance(fmt, str):
        fmt = FORMAT_NAMES[fmt.lower()]
    if fmt not in BYTES_PER_PIXEL:
        raise ValueError(f"unknown pixel format {fmt}")
    if not (0 < width <= 0xFFFF and 0 < height <= 0xFFFF) or width * height > MAX_PIXELS:
        raise ValueError(f"bad frame size {width}x{height}")
    if fmt == FORMAT_YUYV and width % 2:
        raise ValueError(f"YUYV frames need an even width, not {width}")
    if model_c not in (1, 3) or model_h < 1 or model_w < 1:
        raise ValueError(f"bad model input {model_h}x{model_w}x{model_c}")
    data = np.frombuffer(frame, dtype=np.uint8) if isinstance(frame, bytes) else frame
    data = np.asarray(data, dtype=np.uint8).reshape(-1)
    if data.size != frame_bytes(width, height, fmt):
        raise ValueError(
            f"frame has {data.size} bytes, a {width}x{height} frame of format {fmt} has "
            f"{frame_bytes(width, height, fmt)}"
        )

    x0, y0, cw, ch = centre_crop(width, height, model_h, model_w)
    if (max(ch // model_h, 1) + 1) * (max(cw // model_w, 1) + 1) > MAX_BOX_PIXELS:
        raise ValueError(
            f"a {width}x{height} frame averages too many pixels into one of the model's "
            f"{model_h}x{model_w} (at most {MAX_BOX_PIXELS} per box)"
        )
    rgb = to_rgb(data, width, height, fmt)
    if model_c == 1:
        if fmt == FORMAT_GRAY8:
            px = rgb[:, :, :1]  # (256 g + 128) >> 8 == g
        else:
            px = ((77 * rgb[:, :, 0] + 150 * rgb[:, :, 1] + 29 * rgb[:, :, 2] + 128) >> 8)[
                :, :, None
            ]
    else:
        px = rgb

    # Box sums from an integral image with a zero row and column in front.
    integral = np.zeros((height + 1, width + 1, model_c), dtype=np.int64)
    integral[1:, 1:] = px.cumsum(0).cumsum(1)
    ylo, yhi = box_bounds(y0, ch, model_h)
    xlo, xhi = box_bounds(x0, cw, model_w)
    sums = (
        integral[yhi][:, xhi]
        - integral[ylo][:, xhi]
        - integral[yhi][:, xlo]
        + integral[ylo][:, xlo]
    )
    n = ((yhi - ylo)[:, None] * (xhi - xlo)[None, :])[:, :, None]
    mean = (sums + n // 2) // n
    return (mean - 128).astype(np.int8)
