"""How frames reach the audited image, from outside it, while the core is halted.

:class:`SensorFeeder` is the production path (docs/SENSOR.md): the host stops the core
on ``pk_hal_camera_begin`` (a function every production image has), and writes the next
frame into the board's emulated sensor window, READY last. Stop ``k`` comes after frame
``k - 1`` was processed and wiped; the run ends at stop ``n`` (after the last frame).

:class:`BankFeeder` serves HIL images, which read a PKFB frame bank in the same window
(docs/PROTOCOL.md): the header is written before the image starts, and frame ``k`` into
its slot only when the core stops on ``pk_hil_checkpoint(k - 1)``, so the window never
holds a frame the image has not reached (it wipes each slot as it copies it). The image
sends STATS and BYE after the last frame and exits by itself.

Both write over the debugger link (``M`` packets) only while the core is stopped, so the
instruction count of the image cannot depend on the host's speed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..frame_bank import FORMAT_BYTES, HEADER_SIZE, FrameBankHeader

SENSOR_SYMBOL = "pk_hal_camera_begin"
HIL_SYMBOL = "pk_hil_checkpoint"


@dataclass(frozen=True)
class CameraFrames:
    """Frames as the camera gives them: uint8 ``data`` [n, h, w, bytes per pixel] in
    pixel format ``pixfmt`` (a ``PK_PIXFMT_*`` / frame-bank format code)."""

    data: np.ndarray
    pixfmt: int

    def __post_init__(self) -> None:
        if self.data.dtype != np.uint8 or self.data.ndim != 4:
            raise ValueError(
                f"frames: want uint8 [n, h, w, bpp], got {self.data.dtype} {self.data.shape}"
            )
        if FORMAT_BYTES.get(self.pixfmt) != self.data.shape[3]:
            raise ValueError(
                f"frames: pixel format {self.pixfmt} has {FORMAT_BYTES.get(self.pixfmt)} "
                f"bytes per pixel, the array {self.data.shape[3]}"
            )

    def __len__(self) -> int:
        return len(self.data)

    @property
    def height(self) -> int:
        return int(self.data.shape[1])

    @property
    def width(self) -> int:
        return int(self.data.shape[2])

    @property
    def frame_bytes(self) -> int:
        return int(self.data[0].size)

    def take(self, order: np.ndarray) -> CameraFrames:
        return CameraFrames(self.data[np.asarray(order)], self.pixfmt)


class SensorFeeder:
    """The emulated camera sensor of docs/SENSOR.md, for production images."""

    symbol = SENSOR_SYMBOL
    exits_by_itself = False

    def __init__(self, window: int, frames: CameraFrames, window_bytes: int | None = None) -> None:
        self.window = window
        self.frames = frames
        self.window_bytes = window_bytes

    def prepare(self, link) -> None:
        """Nothing to do before the image starts: the window is all zeros."""

    def at_checkpoint(self, link, stop: int) -> int:
        """At the ``stop``-th stop on ``pk_hal_camera_begin``: offer frame ``stop`` if
        there is one (:func:`host_tools.sensor.offer_frame`: rows, header, READY last).
        Returns the number of frames already processed (= ``stop``)."""
        if stop < len(self.frames):
            from ..sensor import offer_frame

            f = self.frames
            offer_frame(link, self.window, stop, f.data[stop].tobytes(), f.width, f.height,
                        f.pixfmt, window_bytes=self.window_bytes)  # fmt: skip
        return stop

    def is_last(self, stop: int) -> bool:
        return stop >= len(self.frames)

    def is_final_checkpoint(self, stop: int) -> bool:
        """The checkpoint after the last frame."""
        return stop >= len(self.frames)

    def boot_phase(self, stops: int) -> bool:
        """True before the first stop: the image is booting (HELLO), no frame yet."""
        return stops == 0


class BankFeeder:
    """A PKFB bank filled one frame at a time, for HIL images."""

    symbol = HIL_SYMBOL
    exits_by_itself = True

    def __init__(self, window: int, frames: CameraFrames, window_bytes: int | None = None) -> None:
        self.window = window
        self.frames = frames
        self.window_bytes = window_bytes

    def _slot(self, k: int) -> int:
        return self.window + HEADER_SIZE + k * self.frames.frame_bytes

    def prepare(self, link) -> None:
        f = self.frames
        header = FrameBankHeader(len(f), f.width, f.height, f.data.shape[3], f.pixfmt).pack()
        link.write_memory(self.window, header)
        if len(f):
            link.write_memory(self._slot(0), f.data[0].tobytes())

    def at_checkpoint(self, link, stop: int) -> int:
        """At ``pk_hil_checkpoint(stop)``: frame ``stop`` is done; load the next one."""
        if stop + 1 < len(self.frames):
            link.write_memory(self._slot(stop + 1), self.frames.data[stop + 1].tobytes())
        return stop + 1

    def is_last(self, stop: int) -> bool:
        return False  # the HIL image exits by itself after its BYE

    def is_final_checkpoint(self, stop: int) -> bool:
        return stop >= len(self.frames) - 1

    def boot_phase(self, stops: int) -> bool:
        return False  # the bank is ready at reset: frame 0 follows the HELLO at once
