"""Link faults give a clear error or recover, never a hang: disconnect mid-record, bytes
of garbage, device reset mid-stream, a silent device, a device that never stops talking.

Simulated devices are TCP servers reached through pyserial's socket:// (the transport the
emulator uses); the last tests break a real emulated device the same ways."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from host_tools.audit import audit_capture
from host_tools.canaries import generate_canaries
from host_tools.hil_audit import AuditConfig, SerialTarget, run_audit
from host_tools.protocol import Bye, Decision, Hello, Stats, encode_record
from host_tools.session import DeviceReset, LinkClosed, LinkTimeout, connect

HELLO = Hello(1, 1, 0, 1, "0.1.0", "an386", bytes(range(32)))
SLACK_S = 0.5  # a wait may overrun its timeout by one poll, plus scheduling


def run_bytes(n: int, hello: Hello = HELLO) -> bytes:
    recs = [hello] + [Decision(i, i % 2 == 0) for i in range(n)] + [Stats(n, 1, 2, 3), Bye(n)]
    return b"".join(encode_record(r) for r in recs)


class FakeDevice:
    """A TCP server playing a device: sends ``script`` items (bytes, or a float to pause
    that many seconds) to its first client, then closes -- or stays silent and open if
    ``hold_s`` is given."""

    def __init__(self, script: list, hold_s: float = 0.0) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.url = f"socket://127.0.0.1:{self.sock.getsockname()[1]}"
        self.script = script
        self.hold_s = hold_s
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            time.sleep(0.1)  # pyserial's socket:// open drops what arrives before it ends
            for item in self.script:
                if self.stop.is_set():
                    break
                if isinstance(item, float):
                    time.sleep(item)
                else:
                    try:
                        conn.sendall(item)
                    except OSError:
                        break
            self.stop.wait(self.hold_s)
        self.sock.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2.0)


@pytest.fixture
def device_factory():
    made: list[FakeDevice] = []

    def make(script, hold_s: float = 0.0) -> FakeDevice:
        made.append(FakeDevice(script, hold_s))
        return made[-1]

    yield make
    for d in made:
        d.close()


# ------------------------------------------------------------------ disconnect


def test_disconnect_mid_record_is_a_clear_error_at_once(device_factory):
    frame = encode_record(Decision(1, True))
    dev = device_factory([encode_record(HELLO) + encode_record(Decision(0, False)) + frame[:6]])
    with connect(dev.url) as link:
        assert link.expect_hello(2.0) == HELLO
        t0 = time.monotonic()
        with pytest.raises(LinkClosed) as err:
            link.read_until_bye(timeout_s=30.0)
        assert time.monotonic() - t0 < 2.0  # the close ends the wait, not the timeout
    message = str(err.value)
    assert "link closed" in message and "waiting for BYE (after 1 records)" in message
    assert "6 bytes of a partial frame were pending" in message
    assert link.garbage[-1].reason == "truncated frame at end of stream"


def test_disconnect_before_hello(device_factory):
    dev = device_factory([b"\x05\x01\x02"])
    with connect(dev.url) as link, pytest.raises(LinkClosed, match="waiting for HELLO"):
        link.expect_hello(5.0)


# ------------------------------------------------------------------ garbage


def test_garbage_between_records_is_skipped_and_recorded(device_factory):
    rec = [encode_record(r) for r in (HELLO, Decision(0, True), Decision(1, False), Bye(2))]
    noise = bytes(range(1, 200)) + b"\x00"  # ends at a delimiter
    glued = b"\xfe\xfe\xfe"  # no delimiter: glued to the next frame
    dev = device_factory([noise + rec[0], rec[1] + glued, 0.05, rec[2], rec[3]])
    with connect(dev.url) as link:
        assert link.expect_hello(2.0) == HELLO
        assert link.read_until_bye(2.0) == [Decision(0, True), Decision(1, False), Bye(2)]
        assert [(g.offset, g.length) for g in link.garbage] == [
            (0, 200),
            (200 + len(rec[0]) + len(rec[1]), 3),
        ]
        capture = link.capture
    report = audit_capture(capture, generate_canaries(2, 8, 8).frames)
    grammar = report.check("grammar")
    assert not grammar.passed
    assert grammar.findings[0].startswith("offset 0: 200 bytes not part of any valid frame")


def test_garbage_only_device_times_out_even_though_bytes_keep_coming(device_factory):
    chatter = [b"boot: ok\r\n", 0.02] * 200  # 4 s of chatter, never a record
    dev = device_factory(chatter)
    with connect(dev.url) as link:
        t0 = time.monotonic()
        with pytest.raises(LinkTimeout) as err:
            link.expect_hello(timeout_s=0.5)
        assert time.monotonic() - t0 < 0.5 + SLACK_S
    assert "no complete record within 0.5 s" in str(err.value)
    assert err.value.received.startswith(b"boot: ok")


# ------------------------------------------------------------------ reset


def test_device_reset_mid_stream_raises_then_recovers(device_factory):
    first = [encode_record(r) for r in (HELLO, Decision(0, True), Decision(1, False))]
    reboot = run_bytes(2)  # HELLO again, then a whole run
    dev = device_factory([b"".join(first) + encode_record(Decision(2, True))[:5], reboot])
    with connect(dev.url) as link:
        assert link.expect_hello(2.0) == HELLO
        with pytest.raises(DeviceReset) as err:
            link.read_until_bye(5.0)
        reset_at = sum(map(len, first)) + 5
        # The half-sent DECISION is garbage glued to the new HELLO; the reset is named.
        assert err.value.offset == reset_at and err.value.hello == HELLO
        assert f"device reset: a new HELLO at capture offset {reset_at}" in str(err.value)
        assert link.resets == [reset_at]
        # Recovery: the new boot's run reads to its BYE.
        records = link.read_until_bye(5.0)
        assert records[0] == Decision(0, True) and records[-1] == Bye(2)
        capture = link.capture
    grammar = audit_capture(capture, generate_canaries(2, 8, 8).frames).check("grammar")
    assert any("extra HELLO" in f and "device reset" in f for f in grammar.findings)


# ------------------------------------------------------------------ silence


@pytest.mark.parametrize("timeout_s", [0.2, 1.0])
def test_silent_device_times_out_on_time(device_factory, timeout_s):
    dev = device_factory([], hold_s=timeout_s + 3)
    with connect(dev.url) as link:
        t0 = time.monotonic()
        with pytest.raises(LinkTimeout, match="waiting for HELLO"):
            link.expect_hello(timeout_s)
        elapsed = time.monotonic() - t0
    assert timeout_s <= elapsed < timeout_s + SLACK_S


def test_device_silent_after_some_records_times_out(device_factory):
    dev = device_factory([encode_record(HELLO) + encode_record(Decision(0, True))], hold_s=5)
    with connect(dev.url) as link:
        link.expect_hello(2.0)
        t0 = time.monotonic()
        with pytest.raises(LinkTimeout, match=r"waiting for BYE \(after 1 records\)"):
            link.read_until_bye(0.5)
        assert time.monotonic() - t0 < 0.5 + SLACK_S


def test_audit_of_a_silent_device_ends_with_a_clear_failure(device_factory):
    dev = device_factory([], hold_s=10)
    target = SerialTarget(dev.url)
    t0 = time.monotonic()
    config = AuditConfig(frames=3, shape=(8, 8, 1), timeout_s=1.0)
    report = run_audit(target, config)
    assert time.monotonic() - t0 < 2 * (1.0 + SLACK_S)  # runs A and B, each its timeout
    assert not report.passed
    assert "LinkTimeout" in report.meta["run_a"]["error"]
    assert "run A ended early: LinkTimeout" in "\n".join(report.check("protocol").findings)
    assert report.check("noninterference_memory").skipped  # no gdbserver in this rig
    assert report.check("reference_decisions").skipped  # no model given


def test_audit_of_a_device_that_dies_mid_run(device_factory):
    dev = device_factory([run_bytes(3)[:40]])
    report = run_audit(SerialTarget(dev.url), AuditConfig(frames=3, shape=(8, 8, 1), timeout_s=5.0))
    assert not report.passed and "LinkClosed" in report.meta["run_a"]["error"]
    assert "noninterference_output" in report.failed  # run B (a silent device) sent nothing


# ------------------------------------------------------------------ the emulator


@pytest.mark.emulator
def test_emulator_killed_mid_run_is_a_clear_error(tmp_path_factory):
    from hil_fixtures import HAVE_TOOLS, build_tiny_model, build_variant, cache_root

    from host_tools.hil_audit import EmulatorTarget

    if not HAVE_TOOLS:
        pytest.skip("arm-none-eabi-gcc/qemu-system-arm missing")
    root = cache_root(tmp_path_factory)
    fw = build_variant(root, build_tiny_model(root), None)
    frames = generate_canaries(400, 96, 96, 1).frames
    with EmulatorTarget(fw.elf).open(frames) as (link, qemu, _):
        assert link.expect_hello(5.0).board == "an386"
        link.read_record(5.0)
        qemu.process.kill()
        t0 = time.monotonic()
        with pytest.raises(LinkClosed, match="link closed"):
            link.read_until_bye(30.0)
        assert time.monotonic() - t0 < 2.0
