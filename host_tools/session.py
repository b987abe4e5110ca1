"""A receive-only session with a Peekless device over any pyserial URL.

    from host_tools.session import connect

    with connect("socket://127.0.0.1:4321") as dev:
        hello = dev.expect_hello()
        records = dev.read_until_bye(timeout_s=60)
        capture = dev.capture  # every byte received, for host_tools.audit
        arrivals = dev.arrivals  # (capture length, time) per read, for the timing screen

The port is opened with ``serial.serial_for_url`` so the same code runs on ``loop://``,
``socket://``, ``rfc2217://``, ``spy://`` and real ttys. The host never writes to the
device: the protocol is one way. Every byte read goes through one method,
:meth:`DeviceSession._pump`, which appends it to :attr:`DeviceSession.capture` and feeds
the :class:`~host_tools.protocol.StreamParser`.

Link faults never hang a caller: every wait has a deadline built from reads of at most
``poll_s``; a closed port raises :class:`LinkClosed`, silence :class:`LinkTimeout`, and
a device that reboots mid-stream (a second HELLO) :class:`DeviceReset`, after which the
session goes on with the new boot. Garbage is recorded and skipped, never fatal.
"""

from __future__ import annotations

import fcntl
import logging
import struct
import termios
import time
from collections import deque

import serial

from .protocol import (
    RECORD_NAMES,
    Bye,
    Garbage,
    Hello,
    ProtocolError,
    Record,
    Span,
    StreamParser,
)

log = logging.getLogger(__name__)

DEFAULT_POLL_S = 0.02
DEFAULT_BAUDRATE = 115200


class LinkError(Exception):
    """Base of the errors raised by :class:`DeviceSession`."""


class LinkTimeout(LinkError):
    """No complete record arrived in time. ``received`` holds the bytes that arrived
    during the wait, ``pending`` the bytes of a partial frame still held back, and
    ``garbage`` the garbage spans seen during the wait."""

    def __init__(
        self, message: str, received: bytes, pending: bytes, garbage: list[Garbage]
    ) -> None:
        super().__init__(message)
        self.received = received
        self.pending = pending
        self.garbage = garbage


class LinkClosed(LinkError):
    """The port closed (EOF or a SerialException) before the awaited record arrived.
    ``pending`` holds the bytes of a partial frame that was cut off."""

    def __init__(self, message: str, pending: bytes) -> None:
        super().__init__(message)
        self.pending = pending


class UnexpectedRecord(LinkError, ProtocolError):
    """A valid record arrived where the protocol wants a different one."""


class DeviceReset(LinkError):
    """The device sent a second HELLO: it rebooted mid-stream. ``hello`` is the new
    HELLO and ``offset`` where it starts in the capture. The session stays usable: the
    next read continues with the new boot's records."""

    def __init__(self, message: str, hello: Hello, offset: int) -> None:
        super().__init__(message)
        self.hello = hello
        self.offset = offset


def pending_bytes(port: serial.SerialBase) -> int:
    """Bytes readable from ``port`` right now without blocking.

    pyserial's socket:// ``in_waiting`` says only 0 or 1, so ask the kernel (FIONREAD)
    wherever there is a descriptor; reading exactly that many never blocks and never runs
    into the end of the stream (where pyserial's socket read drops what it got).
    """
    try:
        raw = fcntl.ioctl(port.fileno(), termios.FIONREAD, b"\0\0\0\0")
        return int(struct.unpack("i", raw)[0])
    except (AttributeError, NotImplementedError, OSError, ValueError, TypeError):
        return int(port.in_waiting)


def _preview(data: bytes, limit: int = 32) -> str:
    if not data:
        return "(none)"
    head = data[-limit:].hex(" ")
    return head if len(data) <= limit else f"... {head}"


def _describe(record: Record) -> str:
    return f"{RECORD_NAMES[record.TYPE]} {record}"


class DeviceSession:
    """Receive-only link to one device; see the module docstring.

    ``poll_s`` is how long one low-level read may block; waits of any length are built
    from such reads, so no call overruns its timeout by more than ``poll_s``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        poll_s: float = DEFAULT_POLL_S,
        baudrate: int = DEFAULT_BAUDRATE,
        port: serial.SerialBase | None = None,
        **serial_kwargs: object,
    ) -> None:
        if (url is None) == (port is None):
            raise ValueError("DeviceSession: give exactly one of url or port")
        if poll_s <= 0:
            raise ValueError(f"DeviceSession: poll_s must be > 0, got {poll_s}")
        self.poll_s = poll_s
        if port is None:
            port = serial.serial_for_url(url, timeout=poll_s, baudrate=baudrate, **serial_kwargs)
        else:
            port.timeout = poll_s
        self.port = port
        self.url = url if url is not None else getattr(port, "portstr", None) or repr(port)
        self.parser = StreamParser()
        self._capture = bytearray()
        self._queue: deque[Record] = deque()
        self.records: list[Record] = []  # every record received, in order
        self.spans: list[Span] = []  # every frame and garbage span, in order
        self.garbage: list[Garbage] = []
        #: (capture length after each read, time.monotonic() of that read)
        self.arrivals: list[tuple[int, float]] = []
        self.hello: Hello | None = None  # the HELLO of the current boot, once read
        self.resets: list[int] = []  # capture offsets of HELLOs after the first
        self._hello_offsets: deque[int] = deque()
        self.closed_reason: str | None = None
        self._pending_at_close = b""

    # ----------------------------------------------------------------- the chokepoint

    @property
    def capture(self) -> bytes:
        """Every byte received so far, framed or not."""
        return bytes(self._capture)

    def _take(self, data: bytes) -> None:
        if not data:
            return
        log.debug("%s rx %d bytes: %s", self.url, len(data), data.hex(" "))
        self._capture += data
        self.arrivals.append((len(self._capture), time.monotonic()))
        self._accept(self.parser.feed_spans(data))

    def _accept(self, spans: list[Span]) -> None:
        for span in spans:
            self.spans.append(span)
            item = span.item
            if isinstance(item, Garbage):
                log.debug(
                    "%s garbage at offset %d (%d bytes): %s",
                    self.url,
                    item.offset,
                    item.length,
                    item.reason,
                )
                self.garbage.append(item)
            else:
                if isinstance(item, Hello):
                    self._hello_offsets.append(span.offset)
                self.records.append(item)
                self._queue.append(item)

    def _on_closed(self, why: str) -> None:
        if self.closed_reason is None:
            self.closed_reason = why
            self._pending_at_close = self.parser.pending_bytes
            self._accept(self.parser.finish_spans())

    def _pump(self, deadline: float) -> bool:
        """Read what arrives until ``deadline`` (time.monotonic) or until at least one
        byte arrived. Every received byte goes to the capture and the parser here.
        Returns False when the port is closed (EOF or error)."""
        if self.closed_reason is not None:
            return False
        while True:
            try:
                data = self.port.read(1)
                if data:
                    self._take(data)
                    waiting = pending_bytes(self.port)
                    if waiting:
                        self._take(self.port.read(waiting))
                    return True
                if not self.port.is_open:
                    self._on_closed("port closed")
                    return False
            except serial.SerialException as e:
                self._on_closed(f"{type(e).__name__}: {e}")
                return False
            except OSError as e:
                self._on_closed(f"OSError: {e}")
                return False
            if time.monotonic() >= deadline:
                return True

    # ----------------------------------------------------------------- records

    def _closed_error(self, waiting_for: str) -> LinkClosed:
        pending = self._pending_at_close
        return LinkClosed(
            f"{self.url}: link closed ({self.closed_reason}) while waiting for {waiting_for}; "
            f"{len(pending)} bytes of a partial frame were pending "
            f"({_preview(pending)}); {len(self._capture)} bytes received in all",
            pending,
        )

    def read_record(self, timeout_s: float, *, waiting_for: str = "a record") -> Record:
        """The next record. Garbage on the way is kept in :attr:`garbage`, not fatal.

        Raises LinkTimeout when no complete record arrives within ``timeout_s`` and
        LinkClosed when the port closes first.
        """
        if self._queue:
            return self._pop()
        start_bytes = len(self._capture)
        start_garbage = len(self.garbage)
        deadline = time.monotonic() + timeout_s
        while not self._queue:
            if not self._pump(deadline):
                if self._queue:
                    break
                raise self._closed_error(waiting_for)
            if not self._queue and time.monotonic() >= deadline:
                received = bytes(self._capture[start_bytes:])
                garbage = self.garbage[start_garbage:]
                pending = self.parser.pending_bytes
                raise LinkTimeout(
                    f"{self.url}: no complete record within {timeout_s:g} s while waiting "
                    f"for {waiting_for}: received {len(received)} bytes "
                    f"({_preview(received)}), {len(garbage)} garbage spans, "
                    f"{len(pending)} bytes of a partial frame pending",
                    received,
                    pending,
                    garbage,
                )
        return self._pop()

    def _pop(self) -> Record:
        record = self._queue.popleft()
        if isinstance(record, Hello):
            offset = self._hello_offsets.popleft()
            if self.hello is not None:
                self.resets.append(offset)
                self.hello = record
                raise DeviceReset(
                    f"{self.url}: device reset: a new HELLO at capture offset {offset} "
                    f"({len(self.records)} records received in all); reading goes on with "
                    f"the new boot",
                    record,
                    offset,
                )
            self.hello = record
        return record

    def expect_hello(self, timeout_s: float = 5.0) -> Hello:
        """The device's boot HELLO; any other record first is an UnexpectedRecord."""
        try:
            record = self.read_record(timeout_s, waiting_for="HELLO")
        except DeviceReset as e:
            return e.hello
        if not isinstance(record, Hello):
            raise UnexpectedRecord(f"{self.url}: expected HELLO, got {_describe(record)}")
        return record

    def read_until_bye(self, timeout_s: float, on_record=None) -> list[Record]:
        """All records up to and including BYE, which must arrive within ``timeout_s``
        in all. Raises LinkTimeout/LinkClosed (with what was seen) otherwise, and
        DeviceReset if the device reboots on the way. ``on_record(record)`` is called
        for each record as it arrives (progress bars)."""
        deadline = time.monotonic() + timeout_s
        out: list[Record] = []
        while True:
            left = max(0.0, deadline - time.monotonic())
            record = self.read_record(left, waiting_for=f"BYE (after {len(out)} records)")
            out.append(record)
            if on_record is not None:
                on_record(record)
            if isinstance(record, Bye):
                return out

    def drain(self, idle_s: float = 0.2, timeout_s: float = 2.0) -> list[Record]:
        """Read until the port is quiet for ``idle_s``, closes, or ``timeout_s`` passes,
        so that :attr:`capture` holds everything the device sent (for the audit).
        Returns the records that arrived and were not yet read."""
        deadline = time.monotonic() + timeout_s
        quiet_since = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= deadline or now - quiet_since >= idle_s:
                break
            before = len(self._capture)
            if not self._pump(min(deadline, quiet_since + idle_s)):
                break
            if len(self._capture) != before:
                quiet_since = time.monotonic()
        out = list(self._queue)
        self._queue.clear()
        for record in out:  # a HELLO among them is a reset, recorded but not raised
            if isinstance(record, Hello):
                offset = self._hello_offsets.popleft()
                if self.hello is not None:
                    self.resets.append(offset)
                self.hello = record
        return out

    # ----------------------------------------------------------------- lifetime

    def close(self) -> None:
        """Close the port. The capture, records and garbage stay readable."""
        try:
            self.port.close()
        finally:
            if self.closed_reason is None:
                self._on_closed("closed by host")

    def __enter__(self) -> DeviceSession:  # noqa: PYI034 (py3.10: no typing.Self)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"DeviceSession({self.url!r}, {len(self._capture)} bytes, "
            f"{len(self.records)} records, {len(self.garbage)} garbage spans)"
        )


def connect(url: str, **kwargs: object) -> DeviceSession:
    """Open a :class:`DeviceSession` on a pyserial URL (``loop://``, ``socket://HOST:PORT``,
    ``rfc2217://HOST:PORT``, ``/dev/ttyACM0``...). Use it as a context manager."""
    return DeviceSession(url, **kwargs)
