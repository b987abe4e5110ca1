"""DeviceSession over pyserial URLs: loop:// for the protocol, socket:// for EOF."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from host_tools.protocol import Bye, Decision, Hello, Stats, encode_record
from host_tools.session import (
    DeviceReset,
    DeviceSession,
    LinkClosed,
    LinkTimeout,
    UnexpectedRecord,
    connect,
    pending_bytes,
)

HELLO = Hello(1, 1, 0, 1, "0.1.0", "host", bytes(range(32)))
RUN = [HELLO, Decision(0, True), Decision(1, False), Stats(2, 10, 20, 30), Bye(2)]
RUN_BYTES = b"".join(encode_record(r) for r in RUN)


@pytest.fixture
def dev():
    with connect("loop://") as session:
        yield session


def test_loop_records_round_trip(dev):
    dev.port.write(RUN_BYTES)
    assert dev.expect_hello(timeout_s=1.0) == HELLO
    assert dev.read_until_bye(timeout_s=2.0) == RUN[1:]
    assert dev.capture == RUN_BYTES
    assert dev.records == RUN
    assert dev.garbage == []


def test_garbage_is_recorded_not_fatal(dev):
    dev.port.write(b"boot log line\r\n\x00" + encode_record(HELLO) + b"\xfe\xfe")
    dev.port.write(encode_record(Decision(0, True)) + encode_record(Bye(1)))
    assert dev.expect_hello(timeout_s=1.0) == HELLO
    assert dev.read_until_bye(timeout_s=1.0) == [Decision(0, True), Bye(1)]
    assert [(g.offset, g.length) for g in dev.garbage] == [(0, 16), (16 + 67, 2)]
    assert len(dev.capture) == 16 + 67 + 2 + 12 + 11


def test_timeout_on_silence_is_prompt(dev):
    t0 = time.monotonic()
    with pytest.raises(LinkTimeout, match=r"no complete record within 0.3 s.*received 0 bytes"):
        dev.read_record(0.3)
    elapsed = time.monotonic() - t0
    assert 0.29 <= elapsed < 0.3 + 0.25


def test_timeout_reports_what_was_seen(dev):
    frame = encode_record(HELLO)
    dev.port.write(b"xx\x00" + frame[:20])
    with pytest.raises(LinkTimeout) as err:
        dev.expect_hello(timeout_s=0.2)
    e = err.value
    assert "waiting for HELLO" in str(e) and "20 bytes of a partial frame pending" in str(e)
    assert e.received == b"xx\x00" + frame[:20]
    assert e.pending == frame[:20]
    assert len(e.garbage) == 1
    # The rest of the frame arrives later: nothing was lost.
    dev.port.write(frame[20:])
    assert dev.expect_hello(timeout_s=1.0) == HELLO


def test_read_until_bye_has_an_overall_deadline(dev):
    dev.port.write(encode_record(HELLO) + encode_record(Decision(0, False)))
    dev.expect_hello(1.0)
    t0 = time.monotonic()
    with pytest.raises(LinkTimeout, match=r"waiting for BYE \(after 1 records\)"):
        dev.read_until_bye(timeout_s=0.3)
    assert time.monotonic() - t0 < 0.3 + 0.25


def test_expect_hello_rejects_other_records(dev):
    dev.port.write(encode_record(Decision(0, True)))
    with pytest.raises(UnexpectedRecord, match="expected HELLO, got DECISION"):
        dev.expect_hello(timeout_s=1.0)


def test_drain_collects_everything(dev):
    dev.port.write(RUN_BYTES + b"after bye")
    dev.expect_hello(1.0)
    left = dev.drain(idle_s=0.1, timeout_s=1.0)
    assert left == RUN[1:]
    assert dev.capture == RUN_BYTES + b"after bye"


def test_close_by_host_then_read_raises_link_closed():
    dev = connect("loop://")
    dev.port.write(encode_record(HELLO)[:30])
    with pytest.raises(LinkTimeout):
        dev.read_record(0.05)
    dev.close()
    assert not dev.port.is_open
    with pytest.raises(LinkClosed, match="30 bytes of a partial frame were pending"):
        dev.read_record(1.0)
    assert dev.garbage[-1].reason == "truncated frame at end of stream"


def test_from_port_and_argument_checks():
    import serial

    port = serial.serial_for_url("loop://", timeout=1.0)
    with DeviceSession(port=port, poll_s=0.01) as dev:
        assert dev.port.timeout == 0.01
        dev.port.write(encode_record(Bye(0)))
        assert dev.read_record(1.0) == Bye(0)
    assert not port.is_open
    with pytest.raises(ValueError, match="exactly one of url or port"):
        DeviceSession()
    with pytest.raises(ValueError, match="poll_s"):
        DeviceSession("loop://", poll_s=0)


class OneShotServer:
    """A TCP server that sends ``payload`` to the first client and then closes."""

    def __init__(self, payload: bytes, delay_s: float = 0.05) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, args=(payload, delay_s), daemon=True)
        self.thread.start()

    def _serve(self, payload: bytes, delay_s: float) -> None:
        conn, _ = self.sock.accept()
        with conn:
            time.sleep(delay_s)
            conn.sendall(payload)
        self.sock.close()


def test_socket_eof_mid_record_raises_link_closed():
    frame = encode_record(Decision(1, True))
    server = OneShotServer(encode_record(HELLO) + encode_record(Decision(0, True)) + frame[:7])
    with connect(f"socket://127.0.0.1:{server.port}") as dev:
        assert dev.expect_hello(2.0) == HELLO
        assert dev.read_record(2.0) == Decision(0, True)
        t0 = time.monotonic()
        with pytest.raises(LinkClosed) as err:
            dev.read_record(5.0)
        assert time.monotonic() - t0 < 2.0  # EOF ends the wait, not the timeout
        assert "7 bytes of a partial frame were pending" in str(err.value)
        assert "socket disconnected" in str(err.value)
        assert err.value.pending == frame[:7]
        assert dev.capture.endswith(frame[:7])
        # Once closed, reads fail at once.
        with pytest.raises(LinkClosed):
            dev.read_record(5.0)
    server.thread.join(1.0)


def test_socket_eof_after_bye_is_fine():
    server = OneShotServer(RUN_BYTES)
    with connect(f"socket://127.0.0.1:{server.port}") as dev:
        dev.expect_hello(2.0)
        assert dev.read_until_bye(2.0) == RUN[1:]
        assert dev.drain(idle_s=0.5, timeout_s=2.0) == []
        assert dev.closed_reason is not None and dev.capture == RUN_BYTES
    server.thread.join(1.0)


def test_second_hello_is_a_device_reset_and_reading_goes_on(dev):
    dev.port.write(encode_record(HELLO) + encode_record(Decision(0, True)))
    dev.port.write(RUN_BYTES)  # the device rebooted and ran again
    assert dev.expect_hello(1.0) == HELLO
    assert dev.read_record(1.0) == Decision(0, True)
    with pytest.raises(DeviceReset) as err:
        dev.read_until_bye(1.0)
    offset = len(encode_record(HELLO)) + len(encode_record(Decision(0, True)))
    assert err.value.offset == offset and dev.resets == [offset]
    assert f"new HELLO at capture offset {offset}" in str(err.value)
    assert dev.read_until_bye(1.0) == RUN[1:]
    assert dev.hello == HELLO


def test_expect_hello_after_a_reset_returns_the_new_hello(dev):
    other = Hello(1, 1, 0, 1, "0.2.0", "host", bytes(32))
    dev.port.write(encode_record(HELLO) + encode_record(other))
    assert dev.expect_hello(1.0) == HELLO
    assert dev.expect_hello(1.0) == other and dev.resets == [len(encode_record(HELLO))]


def test_arrivals_record_when_bytes_came():
    server = OneShotServer(RUN_BYTES)
    with connect(f"socket://127.0.0.1:{server.port}") as dev:
        t0 = time.monotonic()
        dev.expect_hello(2.0)
        dev.read_until_bye(2.0)
        assert dev.arrivals[-1][0] == len(RUN_BYTES)
        assert all(t0 - 1 <= t <= time.monotonic() for _, t in dev.arrivals)
        ends = [a[0] for a in dev.arrivals]
        assert ends == sorted(ends)
    server.thread.join(1.0)


def test_socket_reads_come_in_bulk():
    """FIONREAD tells how much is waiting: 200 KB arrive in few reads, not byte by byte."""
    payload = encode_record(HELLO) + b"\x01" * 200_000 + b"\x00" + encode_record(Bye(0))
    server = OneShotServer(payload)
    with connect(f"socket://127.0.0.1:{server.port}") as dev:
        dev.expect_hello(2.0)
        assert dev.read_until_bye(5.0) == [Bye(0)]
        assert len(dev.arrivals) < 200
    server.thread.join(1.0)


def test_pending_bytes_falls_back_to_in_waiting():
    import serial

    port = serial.serial_for_url("loop://", timeout=0.1)
    port.write(b"abc")
    assert pending_bytes(port) == 3
