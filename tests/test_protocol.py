"""Wire protocol: records, strict body decoding and the resynchronising stream parser."""

from __future__ import annotations

import random
import struct
import zlib

import pytest
from cobs import cobs

from host_tools.protocol import (
    FRAME_SIZES,
    PAYLOAD_SIZES,
    TYPE_BYE,
    TYPE_DECISION,
    TYPE_HELLO,
    TYPE_STATS,
    Bye,
    Decision,
    Garbage,
    Hello,
    ProtocolError,
    Stats,
    StreamParser,
    decode_body,
    decode_frame,
    encode_payload,
    encode_record,
    frame_body,
    make_body,
    parse_capture,
    parse_capture_spans,
)

SHA = bytes(range(0xA0, 0xC0))
HELLO = Hello(2, 1, 0, 1, "0.1.0", "an386", SHA)
HELLO_V1 = Hello(1, 1, 0, 1, "0.1.0", "an386", SHA)  # no rule fields: argmax

RECORDS = [
    HELLO,
    Hello(2, 0, 1, 255, "v" * 12, "", b"\xff" * 32),
    Hello(2, 1, 0, 1, "", "host", bytes(32)),
    Hello(2, 1, 0, 1, "0.1.0", "an386", SHA, 2, 0, -40, -40, 3, 5),  # k_of_n
    Hello(2, 1, 0, 1, "0.1.0", "an386", SHA, 3, 1, 256, -256, 1, 32),  # hysteresis
    Decision(0, False),
    Decision(7, True),
    Decision(0xFFFFFFFF, True, 1),
    Stats(3, 100, 250, 500),
    Stats(0, 0, 0, 0),
    Stats(0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF),
    Bye(0),
    Bye(0xFFFFFFFF),
]


def body_of(frame: bytes) -> bytes:
    assert frame.endswith(b"\x00")
    return cobs.decode(frame[:-1])


def reframe(body: bytes) -> bytes:
    return frame_body(body)


def spans_tile(spans, total: int) -> None:
    """Spans are contiguous from 0 and cover exactly ``total`` bytes."""
    at = 0
    for s in spans:
        assert s.offset == at, (s, at)
        assert s.length > 0
        at += s.length
    assert at == total


# ------------------------------------------------------------------ encode / decode


@pytest.mark.parametrize("record", RECORDS, ids=repr)
def test_round_trip(record):
    frame = encode_record(record)
    assert frame.endswith(b"\x00") and b"\x00" not in frame[:-1]
    assert len(frame) == FRAME_SIZES[record.TYPE]
    body = body_of(frame)
    assert body[0] == record.TYPE
    assert len(body) == 1 + PAYLOAD_SIZES[record.TYPE] + 4
    assert struct.unpack("<I", body[-4:])[0] == zlib.crc32(body[:-4])
    assert decode_body(body) == record
    assert decode_frame(frame) == record
    assert parse_capture(frame) == [record]


def test_payload_layout_matches_protocol_md():
    payload = encode_payload(HELLO)
    assert payload[:4] == bytes([2, 1, 0, 1])
    assert payload[4:16] == b"0.1.0" + bytes(7)
    assert payload[16:28] == b"an386" + bytes(7)
    assert payload[28:60] == SHA
    assert payload[60:68] == bytes([0, 1, 1, 0, 1, 0, 1, 1])  # argmax
    rule = encode_payload(Hello(2, 1, 0, 1, "0.1.0", "an386", SHA, 3, 0, 300 - 256, -2, 1, 1))
    assert rule[60:68] == bytes([3, 0, 44, 0, 0xFE, 0xFF, 1, 1])


def test_a_version_1_hello_still_decodes_as_argmax():
    payload = encode_payload(HELLO_V1)
    assert len(payload) == 60 and payload[:4] == bytes([1, 1, 0, 1])
    frame = encode_record(HELLO_V1)
    assert decode_frame(frame) == HELLO_V1 and HELLO_V1.rule_fields() == (0, 1, 1, 1, 1, 1)
    assert parse_capture(frame + encode_record(Decision(0, True)))[0] == HELLO_V1
    with pytest.raises(ValueError, match="version 1 has no decision rule"):
        encode_payload(Hello(1, 1, 0, 1, "0.1.0", "an386", SHA, 1, 1, 5, 5, 1, 1))


@pytest.mark.parametrize(
    "rule, match",
    [
        ((4, 1, 1, 1, 1, 1), "rule_kind 4: unknown"),
        ((1, 2, 1, 1, 1, 1), "person_index 2"),
        ((1, 1, 257, 257, 1, 1), "threshold 257"),
        ((2, 1, 1, 1, 3, 2), "k 3, n 2"),
        ((2, 1, 1, 1, 1, 33), "k 1, n 33"),
    ],
)
def test_hello_rule_fields_checked(rule, match):
    payload = encode_payload(HELLO)[:60] + struct.pack("<BBhhBB", *rule)
    with pytest.raises(ProtocolError, match=match):
        decode_body(make_body(TYPE_HELLO, payload))
    with pytest.raises(ValueError, match=match):
        encode_payload(Hello(2, 1, 0, 1, "0.1.0", "an386", SHA, *rule))
    assert encode_payload(Decision(0x01020304, True)) == bytes([4, 3, 2, 1, 1])
    assert encode_payload(Stats(1, 2, 3, 4)) == struct.pack("<IIIQ", 1, 2, 3, 4)
    assert encode_payload(Bye(9)) == b"\x09\x00\x00\x00"


def test_decision_flags_default_and_consistency():
    assert Decision(1, True).flags == 1
    assert Decision(1, False).flags == 0
    with pytest.raises(ValueError, match="disagrees"):
        Decision(1, False, 1)


@pytest.mark.parametrize(
    "record, match",
    [
        (Decision(0, True, 0x03), "reserved flag bits"),
        (Decision(1 << 32, False), "seq.*u32"),
        (Hello(1, 1, 0, 1, "0.1.0-too-long", "x", SHA), "fw_version.*longer"),
        (Hello(1, 1, 0, 1, "0.1", "bo\u00e4rd", SHA), "board"),
        (Hello(1, 1, 0, 1, "0.1", "a\x00b", SHA), "board.*non-printable"),
        (Hello(1, 1, 0, 1, "0.1", "x", b"\x01" * 31), "model_sha256.*32"),
        (Hello(256, 1, 0, 1, "0.1", "x", SHA), "proto_version.*u8"),
        (Stats(0, 0, 0, 1 << 64), "insn_total.*u64"),
    ],
)
def test_encode_refuses_what_the_wire_cannot_carry(record, match):
    with pytest.raises(ValueError, match=match):
        encode_record(record)


# ------------------------------------------------------------------ strict decoding


def test_crc_corruption_detected():
    body = bytearray(body_of(encode_record(Decision(5, True))))
    body[2] ^= 0x10  # a seq byte
    with pytest.raises(ProtocolError, match="CRC mismatch for DECISION"):
        decode_body(bytes(body))
    body = bytearray(body_of(encode_record(HELLO)))
    body[-1] ^= 0x01  # the CRC itself
    with pytest.raises(ProtocolError, match="CRC mismatch for HELLO"):
        decode_body(bytes(body))


@pytest.mark.parametrize(
    "body, match",
    [
        (b"", "body too short: 0 bytes"),
        (b"\x02\x00\x00", "body too short: 3 bytes"),
        (make_body(0x7F, b""), "unknown type 0x7f"),
        (make_body(0x00, bytes(5)), "unknown type 0x00"),
        (make_body(TYPE_DECISION, bytes(7)), "bad size for DECISION: got 7 want 5"),
        (make_body(TYPE_HELLO, bytes(59)), r"bad size for HELLO: got 59 want 68 \(or 60 for an"),
        (make_body(TYPE_STATS, bytes(24)), "bad size for STATS: got 24 want 20"),
        (make_body(TYPE_BYE, b""), "bad size for BYE: got 0 want 4"),
        (make_body(TYPE_DECISION, struct.pack("<IB", 0, 0x81)), r"reserved flag bits set \(0x80\)"),
        (make_body(TYPE_DECISION, struct.pack("<IB", 0, 0x02)), "DECISION flags 0x02"),
    ],
)
def test_decode_errors_name_what_is_wrong(body, match):
    with pytest.raises(ProtocolError, match=match):
        decode_body(body)


def _hello_payload(**fields) -> bytes:
    values = {
        "proto": 1,
        "build": 1,
        "policy": 0,
        "budget": 1,
        "fw": b"0.1.0",
        "board": b"an386",
        "sha": SHA,
    }
    values.update(fields)
    return struct.pack(
        "<BBBB12s12s32s",
        values["proto"],
        values["build"],
        values["policy"],
        values["budget"],
        values["fw"],
        values["board"],
        values["sha"],
    )


@pytest.mark.parametrize(
    "fields, match",
    [
        ({"proto": 3}, "proto_version 3: unsupported"),
        ({"proto": 2}, "proto_version 2 with a 60-byte payload"),
        ({"build": 2}, "build_kind 2"),
        ({"policy": 7}, "policy 7"),
        ({"fw": b"0.1.0\x00hidden"}, "fw_version: bytes after the NUL"),
        ({"board": b"an\x7f386"}, "board: not printable"),
    ],
)
def test_hello_fields_checked(fields, match):
    with pytest.raises(ProtocolError, match=match):
        decode_body(make_body(TYPE_HELLO, _hello_payload(**fields)))


def test_decode_frame_reports_cobs_errors():
    with pytest.raises(ProtocolError, match="COBS decode failed"):
        decode_frame(b"\x05\x01\x00")


# ------------------------------------------------------------------ stream parser


def test_garbage_before_between_after_is_resynchronised():
    frames = [encode_record(r) for r in (HELLO, Decision(0, True), Decision(1, False), Bye(2))]
    data = (
        b"\x17junk\x00"  # garbage ending at a delimiter
        + frames[0]
        + b"\x00\x00"  # empty frames
        + frames[1]
        + b"\xff" * 40  # garbage with no delimiter, glued to the next frame
        + frames[2]
        + encode_record(Decision(9, True))[:-1][::-1]
        + b"\x00"  # bytes that do not decode
        + frames[3]
        + b"tail junk\x00"
    )
    spans = parse_capture_spans(data)
    spans_tile(spans, len(data))
    records = [s.item for s in spans if not isinstance(s.item, Garbage)]
    assert records == [HELLO, Decision(0, True), Decision(1, False), Bye(2)]
    garbage = [s.item for s in spans if isinstance(s.item, Garbage)]
    assert next((g.offset, g.length) for g in garbage) == (0, 6)
    assert sum(g.length for g in garbage) == len(data) - sum(map(len, frames))
    assert any("glued to a valid DECISION frame" in g.reason for g in garbage)
    assert any("empty frame" in g.reason for g in garbage)
    # Each record span holds exactly its frame.
    for s in spans:
        if not isinstance(s.item, Garbage):
            assert data[s.offset : s.end] == encode_record(s.item)


def test_crc_corrupted_frame_becomes_garbage_and_next_frame_survives():
    bad = bytearray(body_of(encode_record(Decision(0, True))))
    bad[1] ^= 0x04
    data = reframe(bytes(bad)) + encode_record(Decision(1, False))
    items = parse_capture(data)
    assert isinstance(items[0], Garbage) and "CRC mismatch for DECISION" in items[0].reason
    assert items[0].offset == 0 and items[0].length == FRAME_SIZES[TYPE_DECISION]
    assert items[1:] == [Decision(1, False)]


def test_truncated_frame_at_end():
    frame = encode_record(Stats(1, 2, 3, 4))
    parser = StreamParser()
    assert parser.feed(encode_record(Bye(0))) == [Bye(0)]
    assert parser.feed(frame[:10]) == []
    assert parser.pending == 10 and parser.pending_bytes == frame[:10]
    tail = parser.finish()
    assert tail == [Garbage(len(encode_record(Bye(0))), 10, "truncated frame at end of stream")]
    assert parser.finish() == [] and parser.pending == 0


def test_byte_by_byte_feed_gives_same_spans_as_one_feed():
    rng = random.Random(1)
    data = b"".join(
        encode_record(Decision(i, i % 3 == 0)) + bytes(rng.randrange(256) for _ in range(i % 5))
        for i in range(30)
    )
    whole = parse_capture_spans(data)
    parser = StreamParser()
    pieces = []
    for b in data:
        pieces += parser.feed_spans(bytes([b]))
    pieces += parser.finish_spans()
    assert pieces == whole
    assert parser.bytes_fed == len(data)


def test_fuzz_random_garbage_never_loses_a_valid_frame():
    rng = random.Random(1234)
    for trial in range(200):
        records, parts = [], []
        for i in range(rng.randrange(1, 8)):
            if rng.random() < 0.7:
                n = rng.randrange(0, 80)
                parts.append(bytes(rng.randrange(256) for _ in range(n)))
            record = rng.choice([HELLO, Decision(i, bool(i & 1)), Stats(i, 1, 2, 3), Bye(i)])
            records.append(record)
            parts.append(encode_record(record))
        if rng.random() < 0.5:
            parts.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 50))))
        data = b"".join(parts)
        parser = StreamParser()
        spans = []
        i = 0
        while i < len(data):  # random feed sizes
            n = rng.randrange(1, 40)
            spans += parser.feed_spans(data[i : i + n])
            i += n
        spans += parser.finish_spans()
        spans_tile(spans, len(data))
        got = [s.item for s in spans if not isinstance(s.item, Garbage)]
        assert got == records, f"trial {trial}"


def test_long_run_without_delimiter_is_one_garbage_span():
    data = b"\x01\x02\x03" * 10000 + b"\x00" + encode_record(Bye(1))
    parser = StreamParser()
    items = []
    for i in range(0, len(data), 7):
        items += parser.feed(data[i : i + 7])
    assert isinstance(items[0], Garbage) and items[0].length == 30001
    assert items[1:] == [Bye(1)]
