"""Peekless device-to-host wire protocol (docs/PROTOCOL.md, version 2).

A frame on the serial link is ``COBS(body) 0x00`` with
``body = type:u8 | payload | crc:u32le`` and ``crc = zlib.crc32(type | payload)``.
Every record type has exactly one payload size per protocol version: version 2 appends
the decision rule to HELLO (68 bytes); a version 1 HELLO (60 bytes, no rule: argmax) is
still decoded, so older captures and devices stay readable.

This module holds the record types, the encoder, the strict body decoder and an
incremental :class:`StreamParser` that accounts for every byte it is fed: each byte ends
up either in a valid frame or in a :class:`Garbage` span, which is what the privacy audit
(:mod:`host_tools.audit`) builds on.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from cobs import cobs

PROTO_VERSION = 2
PROTO_VERSIONS = (1, 2)

TYPE_HELLO = 0x01
TYPE_DECISION = 0x02
TYPE_STATS = 0x03
TYPE_BYE = 0x04

#: Payload size in bytes of each record type (type byte and CRC not included).
PAYLOAD_SIZES: dict[int, int] = {TYPE_HELLO: 68, TYPE_DECISION: 5, TYPE_STATS: 20, TYPE_BYE: 4}
HELLO_V1_PAYLOAD = 60  # a version 1 HELLO: no decision rule
#: Every payload size a record type may have (the current one, and older versions').
ACCEPTED_PAYLOAD_SIZES: dict[int, frozenset[int]] = {
    t: frozenset({n, HELLO_V1_PAYLOAD} if t == TYPE_HELLO else {n}) for t, n in PAYLOAD_SIZES.items()
}
RECORD_NAMES: dict[int, str] = {
    TYPE_HELLO: "HELLO",
    TYPE_DECISION: "DECISION",
    TYPE_STATS: "STATS",
    TYPE_BYE: "BYE",
}

BUILD_PRODUCTION = 0
BUILD_HIL = 1
POLICY_PER_FRAME = 0
POLICY_EVENT_ONLY = 1

DECISION_FLAG_PERSON = 0x01
DECISION_RESERVED_FLAGS = 0xFF & ~DECISION_FLAG_PERSON

_CRC_SIZE = 4
_STR_FIELD = 12
_SHA_SIZE = 32

_HELLO_FMT = struct.Struct("<BBBB12s12s32s")  # version 1, and the start of version 2
_HELLO_RULE_FMT = struct.Struct("<BBhhBB")  # version 2: the decision rule
RULE_KINDS = 4  # 0 argmax, 1 threshold, 2 k_of_n, 3 hysteresis (host_tools/decision_rule)
RULE_MAX_N = 32
RULE_THRESHOLD_RANGE = (-256, 256)
ARGMAX_RULE_FIELDS = (0, 1, 1, 1, 1, 1)  # what a version 1 HELLO means
_DECISION_FMT = struct.Struct("<IB")
_STATS_FMT = struct.Struct("<IIIQ")
_BYE_FMT = struct.Struct("<I")
_CRC_FMT = struct.Struct("<I")

assert _HELLO_FMT.size == HELLO_V1_PAYLOAD
assert _HELLO_FMT.size + _HELLO_RULE_FMT.size == PAYLOAD_SIZES[TYPE_HELLO]
assert _DECISION_FMT.size == PAYLOAD_SIZES[TYPE_DECISION]
assert _STATS_FMT.size == PAYLOAD_SIZES[TYPE_STATS]
assert _BYE_FMT.size == PAYLOAD_SIZES[TYPE_BYE]


def body_size(type_code: int) -> int:
    """Size of the whole body (type byte + payload + CRC) of a record type."""
    return 1 + PAYLOAD_SIZES[type_code] + _CRC_SIZE


def _cobs_size(n: int) -> int:
    # COBS adds one code byte per started run of 254 non-code bytes (at least one).
    return n + 1 + n // 254


#: Size on the wire (COBS-encoded body plus the 0x00 delimiter) of each record type.
#: Bodies are all shorter than 254 bytes, so these sizes do not depend on content.
FRAME_SIZES: dict[int, int] = {t: _cobs_size(body_size(t)) + 1 for t in PAYLOAD_SIZES}
MAX_FRAME_SIZE = max(FRAME_SIZES.values())


class ProtocolError(ValueError):
    """A body or record that does not follow docs/PROTOCOL.md; the message names the
    record type and field that is wrong."""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Hello:
    """The device's statement of its build manifest, sent once at boot.

    The rule fields (version 2) say how the device turns its two int8 outputs into the
    person bit (host_tools/decision_rule.py); their defaults are argmax, which is what a
    version 1 HELLO means."""

    proto_version: int
    build_kind: int
    policy: int
    leak_budget_bits: int
    fw_version: str
    board: str
    model_sha256: bytes
    rule_kind: int = 0
    person_index: int = 1
    threshold: int = 1
    threshold_low: int = 1
    k: int = 1
    n: int = 1

    TYPE = TYPE_HELLO

    def rule_fields(self) -> tuple[int, ...]:
        return (self.rule_kind, self.person_index, self.threshold, self.threshold_low,
                self.k, self.n)  # fmt: skip


@dataclass(frozen=True)
class Decision:
    """One per-frame decision. ``flags`` bit 0 is the person bit; other bits must be 0.

    ``flags`` may be left out, in which case it is ``int(person)``.
    """

    seq: int
    person: bool
    flags: int | None = None

    TYPE = TYPE_DECISION

    def __post_init__(self) -> None:
        if self.flags is None:
            object.__setattr__(self, "flags", int(bool(self.person)))
        elif bool(self.flags & DECISION_FLAG_PERSON) != bool(self.person):
            raise ValueError(
                f"Decision person={self.person} disagrees with flags=0x{self.flags:02x} (bit 0)"
            )


@dataclass(frozen=True)
class Stats:
    """Run statistics (HIL builds only). ``insn_*`` are emulator instruction counts."""

    frames: int
    insn_min: int
    insn_max: int
    insn_total: int

    TYPE = TYPE_STATS


@dataclass(frozen=True)
class Bye:
    """Last record of a HIL run."""

    frames: int

    TYPE = TYPE_BYE


Record = Hello | Decision | Stats | Bye


@dataclass(frozen=True)
class Garbage:
    """Bytes of the stream that were not part of a valid frame.

    ``offset`` is the absolute offset in the stream of the first byte, ``length`` counts
    every byte of the span including a terminating 0x00 if the span ended at one.
    """

    offset: int
    length: int
    reason: str


ParsedItem = Hello | Decision | Stats | Bye | Garbage


@dataclass(frozen=True)
class Span:
    """Where one parsed item lies in the stream: ``stream[offset:offset + length]``."""

    offset: int
    length: int
    item: ParsedItem

    @property
    def end(self) -> int:
        return self.offset + self.length


# --------------------------------------------------------------------------- encoding


def _check_uint(record: str, field: str, value: int, bits: int) -> int:
    if not isinstance(value, int):
        raise TypeError(f"{record} {field}: want an int, got {type(value).__name__}")
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{record} {field}: {value} does not fit in u{bits}")
    return value


def _encode_str(field: str, value: str) -> bytes:
    try:
        raw = value.encode("ascii")
    except (UnicodeEncodeError, AttributeError) as e:
        raise ValueError(f"HELLO {field}: want an ASCII str, got {value!r}") from e
    if len(raw) > _STR_FIELD:
        raise ValueError(f"HELLO {field}: {value!r} is longer than {_STR_FIELD} bytes")
    if any(c < 0x20 or c > 0x7E for c in raw):
        raise ValueError(f"HELLO {field}: {value!r} has non-printable characters")
    return raw.ljust(_STR_FIELD, b"\x00")


def encode_payload(record: Record) -> bytes:
    """The payload bytes of ``record`` (no type byte, no CRC). Raises ValueError for a
    record the protocol cannot carry (out-of-range field, reserved flag bits set...)."""
    if isinstance(record, Hello):
        sha = bytes(record.model_sha256)
        if len(sha) != _SHA_SIZE:
            raise ValueError(f"HELLO model_sha256: want {_SHA_SIZE} bytes, got {len(sha)}")
        head = _HELLO_FMT.pack(
            _check_uint("HELLO", "proto_version", record.proto_version, 8),
            _check_uint("HELLO", "build_kind", record.build_kind, 8),
            _check_uint("HELLO", "policy", record.policy, 8),
            _check_uint("HELLO", "leak_budget_bits", record.leak_budget_bits, 8),
            _encode_str("fw_version", record.fw_version),
            _encode_str("board", record.board),
            sha,
        )
        if record.proto_version == 1:
            if record.rule_fields() != ARGMAX_RULE_FIELDS:
                raise ValueError("HELLO version 1 has no decision rule fields (argmax only)")
            return head
        problem = _rule_problem(record)
        if problem:
            raise ValueError(f"HELLO {problem}")
        return head + _HELLO_RULE_FMT.pack(*record.rule_fields())
    if isinstance(record, Decision):
        flags = _check_uint("DECISION", "flags", record.flags, 8)
        if flags & DECISION_RESERVED_FLAGS:
            raise ValueError(f"DECISION flags 0x{flags:02x}: reserved flag bits set")
        return _DECISION_FMT.pack(_check_uint("DECISION", "seq", record.seq, 32), flags)
    if isinstance(record, Stats):
        return _STATS_FMT.pack(
            _check_uint("STATS", "frames", record.frames, 32),
            _check_uint("STATS", "insn_min", record.insn_min, 32),
            _check_uint("STATS", "insn_max", record.insn_max, 32),
            _check_uint("STATS", "insn_total", record.insn_total, 64),
        )
    if isinstance(record, Bye):
        return _BYE_FMT.pack(_check_uint("BYE", "frames", record.frames, 32))
    raise TypeError(f"not a Peekless record: {type(record).__name__}")


def make_body(type_code: int, payload: bytes) -> bytes:
    """``type | payload | crc32le``. Does no checking of the payload: tests use it to
    build malformed bodies."""
    head = bytes([type_code]) + bytes(payload)
    return head + _CRC_FMT.pack(zlib.crc32(head))


def frame_body(body: bytes) -> bytes:
    """Wrap a body for the wire: ``COBS(body) 0x00``."""
    return cobs.encode(bytes(body)) + b"\x00"


def encode_record(record: Record) -> bytes:
    """The full wire frame of ``record``: ``COBS(type | payload | crc) 0x00``."""
    return frame_body(make_body(record.TYPE, encode_payload(record)))


# --------------------------------------------------------------------------- decoding


def _decode_str(field: str, raw: bytes) -> str:
    text, _, pad = raw.partition(b"\x00")
    if pad.strip(b"\x00"):
        raise ProtocolError(f"HELLO {field}: bytes after the NUL terminator are not all NUL")
    if any(c < 0x20 or c > 0x7E for c in text):
        raise ProtocolError(f"HELLO {field}: not printable ASCII: {text!r}")
    return text.decode("ascii")


def _rule_problem(hello: Hello) -> str:
    """What is wrong with a HELLO's decision rule fields ('' when nothing)."""
    if not 0 <= hello.rule_kind < RULE_KINDS:
        return f"rule_kind {hello.rule_kind}: unknown (want 0..{RULE_KINDS - 1})"
    if hello.person_index not in (0, 1):
        return f"person_index {hello.person_index}: want 0 or 1"
    for name in ("threshold", "threshold_low"):
        value = getattr(hello, name)
        if not RULE_THRESHOLD_RANGE[0] <= value <= RULE_THRESHOLD_RANGE[1]:
            return f"{name} {value}: outside {RULE_THRESHOLD_RANGE[0]}..{RULE_THRESHOLD_RANGE[1]}"
    if not 1 <= hello.k <= hello.n <= RULE_MAX_N:
        return f"k {hello.k}, n {hello.n}: want 1 <= k <= n <= {RULE_MAX_N}"
    return ""


def decode_body(body: bytes) -> Record:
    """Decode one COBS-decoded body into a record.

    Raises ProtocolError naming what is wrong: a short body, an unknown type, a payload
    size that does not match the type, a CRC mismatch, or a field outside its range
    (reserved flag bits, unsupported proto_version, badly padded strings...).
    """
    body = bytes(body)
    if len(body) < 1 + _CRC_SIZE:
        raise ProtocolError(f"body too short: {len(body)} bytes (type + crc need 5)")
    type_code = body[0]
    name = RECORD_NAMES.get(type_code)
    if name is None:
        raise ProtocolError(f"unknown type 0x{type_code:02x}")
    payload = body[1:-_CRC_SIZE]
    want = PAYLOAD_SIZES[type_code]
    if len(payload) not in ACCEPTED_PAYLOAD_SIZES[type_code]:
        older = sorted(ACCEPTED_PAYLOAD_SIZES[type_code] - {want})
        also = f" (or {', '.join(map(str, older))} for an older version)" if older else ""
        raise ProtocolError(f"bad size for {name}: got {len(payload)} want {want}{also}")
    (crc,) = _CRC_FMT.unpack(body[-_CRC_SIZE:])
    computed = zlib.crc32(body[:-_CRC_SIZE])
    if crc != computed:
        raise ProtocolError(
            f"CRC mismatch for {name}: frame says 0x{crc:08x}, computed 0x{computed:08x}"
        )

    if type_code == TYPE_HELLO:
        proto, build, policy, budget, fw, board, sha = _HELLO_FMT.unpack_from(payload)
        if proto not in PROTO_VERSIONS:
            raise ProtocolError(
                f"HELLO proto_version {proto}: unsupported (want one of {PROTO_VERSIONS})"
            )
        if (proto == 1) != (len(payload) == HELLO_V1_PAYLOAD):
            raise ProtocolError(f"HELLO proto_version {proto} with a {len(payload)}-byte payload")
        rule = _HELLO_RULE_FMT.unpack_from(payload, _HELLO_FMT.size) if proto > 1 else ()
        if build not in (BUILD_PRODUCTION, BUILD_HIL):
            raise ProtocolError(f"HELLO build_kind {build}: unknown (want 0 or 1)")
        if policy not in (POLICY_PER_FRAME, POLICY_EVENT_ONLY):
            raise ProtocolError(f"HELLO policy {policy}: unknown (want 0 or 1)")
        hello = Hello(proto, build, policy, budget, _decode_str("fw_version", fw),
                      _decode_str("board", board), sha, *rule)  # fmt: skip
        problem = _rule_problem(hello)
        if problem:
            raise ProtocolError(f"HELLO {problem}")
        return hello
    if type_code == TYPE_DECISION:
        seq, flags = _DECISION_FMT.unpack(payload)
        if flags & DECISION_RESERVED_FLAGS:
            raise ProtocolError(
                f"DECISION flags 0x{flags:02x}: reserved flag bits set "
                f"(0x{flags & DECISION_RESERVED_FLAGS:02x})"
            )
        return Decision(seq=seq, person=bool(flags & DECISION_FLAG_PERSON), flags=flags)
    if type_code == TYPE_STATS:
        return Stats(*_STATS_FMT.unpack(payload))
    return Bye(*_BYE_FMT.unpack(payload))


def decode_frame(frame: bytes) -> Record:
    """Decode one wire frame (``COBS(body)`` with or without its trailing 0x00)."""
    frame = bytes(frame)
    if frame.endswith(b"\x00"):
        frame = frame[:-1]
    try:
        body = cobs.decode(frame)
    except cobs.DecodeError as e:
        raise ProtocolError(f"COBS decode failed: {e}") from e
    return decode_body(body)


# --------------------------------------------------------------------------- stream

# Encoded lengths (without delimiter) of valid frames, longest first, for recovering a
# valid frame that follows garbage with no 0x00 in between.
_ENCODED_SIZES = sorted(
    {_cobs_size(1 + n + _CRC_SIZE) for sizes in ACCEPTED_PAYLOAD_SIZES.values() for n in sizes},
    reverse=True,
)


def _try_frame(chunk: bytes) -> tuple[Record | None, str]:
    try:
        body = cobs.decode(chunk)
    except cobs.DecodeError as e:
        return None, f"COBS decode failed: {e}"
    try:
        return decode_body(body), ""
    except ProtocolError as e:
        return None, str(e)


class StreamParser:
    """Incremental frame parser that accounts for every byte it is fed.

    ``feed_spans`` returns one :class:`Span` per complete frame or garbage span, with
    absolute stream offsets; ``feed`` returns just the items. After garbage, parsing
    resynchronises at the next 0x00. A valid frame glued to the end of garbage (no 0x00
    between them) is still recovered, because valid frames have fixed encoded sizes.

    Invariant: the spans returned so far tile ``[0, bytes_fed - pending)`` exactly, and
    :meth:`finish` reports the pending tail as garbage.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._buf_offset = 0  # absolute stream offset of self._buf[0]
        self._scanned = 0  # bytes of self._buf known to contain no 0x00
        self.bytes_fed = 0

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame (no 0x00 yet) held back."""
        return len(self._buf)

    @property
    def pending_bytes(self) -> bytes:
        return bytes(self._buf)

    def feed_spans(self, data: bytes) -> list[Span]:
        self._buf += data
        self.bytes_fed += len(data)
        out: list[Span] = []
        start = 0
        pos = self._scanned
        while True:
            zero = self._buf.find(0, pos)
            if zero < 0:
                break
            out.extend(self._classify(bytes(self._buf[start:zero]), self._buf_offset + start))
            start = pos = zero + 1
        if start:
            del self._buf[:start]
            self._buf_offset += start
        self._scanned = len(self._buf)
        return out

    def feed(self, data: bytes) -> list[ParsedItem]:
        return [span.item for span in self.feed_spans(data)]

    def finish_spans(self) -> list[Span]:
        """End of stream: report any incomplete tail as garbage and reset the tail."""
        if not self._buf:
            return []
        n = len(self._buf)
        garbage = Garbage(self._buf_offset, n, "truncated frame at end of stream")
        del self._buf[:]
        self._buf_offset += n
        self._scanned = 0
        return [Span(garbage.offset, n, garbage)]

    def finish(self) -> list[ParsedItem]:
        return [span.item for span in self.finish_spans()]

    @staticmethod
    def _classify(chunk: bytes, offset: int) -> list[Span]:
        length = len(chunk) + 1  # the 0x00 delimiter belongs to the span
        if not chunk:
            reason = "empty frame (lone 0x00 delimiter)"
            return [Span(offset, 1, Garbage(offset, 1, reason))]
        record, reason = _try_frame(chunk)
        if record is not None:
            return [Span(offset, length, record)]
        for size in _ENCODED_SIZES:
            if size >= len(chunk):
                continue
            tail_record, _ = _try_frame(chunk[-size:])
            if tail_record is not None:
                cut = len(chunk) - size
                name = RECORD_NAMES[tail_record.TYPE]
                why = f"{cut} bytes not a frame, glued to a valid {name} frame with no 0x00"
                return [
                    Span(offset, cut, Garbage(offset, cut, why)),
                    Span(offset + cut, size + 1, tail_record),
                ]
        return [Span(offset, length, Garbage(offset, length, reason))]


def parse_capture_spans(data: bytes) -> list[Span]:
    """Parse a whole capture, trailing incomplete frame included (as garbage)."""
    parser = StreamParser()
    return parser.feed_spans(data) + parser.finish_spans()


def parse_capture(data: bytes) -> list[ParsedItem]:
    """Parse a whole capture into records and :class:`Garbage` items."""
    return [span.item for span in parse_capture_spans(data)]
