"""The content checks one by one, on synthetic captures (the audit's diagnostics, and
``peekless audit --capture``): each finds the leak it is meant for (encoded, packed,
thumbnailed frames; entropy; length and timing), and none raises a false alarm on clean
output. The verdict checks (noninterference) are in test_noninterference.py."""

from __future__ import annotations

import base64
import gzip
import struct
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pytest

from host_tools.audit import (
    AuditReport,
    CheckResult,
    audit_capture,
    audit_cli_exit_code,
    check_elf_allowlist,
    skipped,
)
from host_tools.audit.canary import innocent_windows
from host_tools.canaries import HIGH_BAND, KINDS, LOW_BAND, canary_frame, generate_canaries
from host_tools.junit import junit_xml
from host_tools.protocol import (
    Bye,
    Decision,
    Hello,
    Stats,
    encode_record,
    frame_body,
    make_body,
)

SHA = bytes(range(32))


def hello(**kw) -> Hello:
    fields = {
        "proto_version": 1,
        "build_kind": 1,
        "policy": 0,
        "leak_budget_bits": 1,
        "fw_version": "0.1.0",
        "board": "an386",
        "model_sha256": SHA,
    }
    fields.update(kw)
    return Hello(**fields)


def capture_of(labels, stats=(1000, 1100), extra_after: dict | None = None) -> bytes:
    """A HIL capture with one DECISION per label; ``extra_after[i]`` is sent right after
    DECISION i."""
    n = len(labels)
    out = [encode_record(hello())]
    for i, person in enumerate(labels):
        out.append(encode_record(Decision(i, bool(person))))
        if extra_after and i in extra_after:
            out.append(extra_after[i])
    out.append(encode_record(Stats(n, stats[0], stats[1], (stats[0] + stats[1]) // 2 * n)))
    out.append(encode_record(Bye(n)))
    return b"".join(out)


@pytest.fixture(scope="module")
def frames():
    return generate_canaries(10, 32, 32, 1, seed=4).frames


def failed(report) -> set[str]:
    return set(report.failed)


def canary_text(report) -> str:
    return "\n".join(report.check("canary_windows").findings)


# ------------------------------------------------------------------ no false alarms


def test_clean_output_of_every_canary_kind_passes():
    frames = generate_canaries(200, 96, 96, 1, seed=11).frames
    labels = [i % 3 == 0 for i in range(200)]
    report = audit_capture(capture_of(labels), frames, {"board": "an386", "leak_budget_bits": 1})
    assert report.passed, report.summary(findings=True)


def test_innocent_windows_are_not_looked_for():
    buf = np.array(
        [0, 0, 0, 0, 0, 0, 0, 1]  # near-constant
        + [129, 128, 128, 130, 128, 127, 128, 131]  # pixel 128 + noise: int8 small ints
        + [10, 20, 30, 40, 50, 60, 70, 80]  # a ramp
        + [17, 200, 45, 99, 3, 250, 64, 180],  # worth looking for
        np.uint8,
    )
    starts = [0, 8, 16, 24]
    flags = innocent_windows(buf, 8, len(buf) - 7, packed=False)[starts]
    assert flags.tolist() == [True, False, True, False]
    small = innocent_windows(buf ^ np.uint8(0x80), 8, len(buf) - 7, packed=False)[starts]
    assert small.tolist() == [True, True, True, False]


# ------------------------------------------------------------------ encodings


@pytest.mark.parametrize(
    "encode, view",
    [
        (lambda b: b.hex().encode(), "hex-decoded run"),
        (lambda b: b.hex().upper().encode(), "hex-decoded run"),
        (lambda b: b.hex(":").encode(), "hex-decoded run"),
        (lambda b: b"x" + b.hex().encode(), "hex-decoded run"),  # odd phase
        (lambda b: base64.b64encode(b), "base64-decoded run"),
        (lambda b: base64.urlsafe_b64encode(b), "base64-decoded run"),
        (lambda b: base64.b64encode(b"\x07" + b), "base64-decoded run"),  # shifted
        (lambda b: zlib.compress(b, 9), "zlib stream"),
        (lambda b: gzip.compress(b, mtime=0), "gzip stream"),
        (lambda b: base64.b64encode(zlib.compress(b)), "zlib stream"),  # nested
    ],
)
def test_encoded_frame_is_found_in_its_decoded_view(frames, encode, view):
    leak = frames[5].tobytes()[1000:1200]
    report = audit_capture(capture_of([1] * 10, extra_after={5: encode(leak)}), frames)
    assert "canary_windows" in failed(report)
    text = canary_text(report)
    assert f"inside the {view} there" in text and "of frame 5 from pixel offset 1000" in text, text


@pytest.mark.parametrize(
    "pack, name",
    [
        (lambda f: np.packbits(f >= 128), "bit plane 7 packed MSB-first"),
        (lambda f: np.packbits(f & 1, bitorder="little"), "bit plane 0 packed LSB-first"),
        (lambda f: (f[0::2] & 0xF0) | (f[1::2] >> 4), "high nibbles packed"),
    ],
)
def test_bit_packed_frame_is_found(pack, name):
    frames = generate_canaries(5, 32, 32, 1, kinds=["noise"], seed=2).frames
    leak = pack(frames[3].reshape(-1)).astype(np.uint8).tobytes()
    report = audit_capture(capture_of([0] * 5, extra_after={1: frame_body(leak)}), frames)
    text = canary_text(report)
    assert "of frame 3 from byte" in text and f"of its {name}" in text, text
    assert f"{len(leak)} of {len(leak)} bytes of this frame found" in text


def test_thumbnail_in_a_zlib_stream_is_found():
    frames = generate_canaries(8, 96, 96, 1, kinds=["gradient", "text", "scene"], seed=6).frames
    thumb = frames[4].reshape(24, 4, 24, 4).mean(axis=(1, 3)).round().astype(np.uint8)
    report = audit_capture(
        capture_of([1] * 8, extra_after={4: zlib.compress(thumb.tobytes(), 9)}), frames
    )
    assert {"canary_windows", "image_signatures"} <= failed(report)
    assert "a 24x24 block-mean thumbnail of frame 4" in canary_text(report)


def test_signature_inside_a_base64_view_is_found(frames):
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(1, 40)))
    report = audit_capture(capture_of([1] * 10, extra_after={0: png}), frames)
    sig = "\n".join(report.check("image_signatures").findings)
    assert "inside the base64-decoded run there" in sig and "PNG signature" in sig


# ------------------------------------------------------------------ budget and grammar


def test_reserved_flag_bit_is_over_budget(frames):
    body = make_body(0x02, struct.pack("<IB", 3, 0x03))
    capture = capture_of([1] * 10)
    capture = capture.replace(encode_record(Decision(3, True)), frame_body(body))
    report = audit_capture(capture, frames)
    budget = "\n".join(report.check("budget").findings)
    assert "DECISION flags bit 1 (reserved, must be 0) is set in 1 of 10 records" in budget


def test_undeclared_record_type_is_over_budget(frames):
    extra = frame_body(make_body(0x05, frames[2].tobytes()[:16]))
    report = audit_capture(capture_of([1] * 10, extra_after={2: extra}), frames)
    assert {"grammar", "budget", "canary_windows"} <= failed(report)
    assert "undeclared type 0x05 with 16-byte payloads (128 bits each)" in "\n".join(
        report.check("budget").findings
    )


# ------------------------------------------------------------------ entropy


def test_entropy_flags_incompressible_bytes_and_the_bit_count(frames):
    noise = np.random.default_rng(1).integers(1, 256, 1024, dtype=np.uint8).tobytes()
    report = audit_capture(capture_of([1] * 10, extra_after={1: noise}), frames)
    entropy = report.check("entropy")
    assert not entropy.passed
    text = "\n".join(entropy.findings)
    assert "zlib cannot shrink" in text and "over the declared budget of 1 bits x 10" in text


def test_entropy_passes_clean_output(frames):
    entropy = audit_capture(capture_of([1, 0] * 5), frames).check("entropy")
    assert entropy.passed and "0 bytes outside records" in entropy.detail


# ------------------------------------------------------------------ length and timing


def test_length_flags_a_frame_with_extra_output(frames):
    report = audit_capture(capture_of([1] * 10, extra_after={6: b"\x01\x01\x00"}), frames)
    length = report.check("length_timing")
    assert not length.passed
    assert "frame 7 produced 15 bytes of output, not one 12-byte DECISION" in length.findings[0]


def test_timing_that_follows_the_pixels_is_flagged():
    frames = generate_canaries(40, 16, 16, 1, seed=3).frames
    capture = capture_of([1] * 40)
    # One read per DECISION; the gap before frame i grows with its mean brightness.
    means = frames.reshape(40, -1).mean(axis=1)
    ends, t = [], 0.0
    for i in range(40):
        t += 0.01 + means[i] * 1e-4
        ends.append((67 + 12 * (i + 1), t))  # HELLO is 67 bytes on the wire
    ends.append((len(capture), t + 0.01))
    report = audit_capture(capture, frames, arrivals=ends)
    timing = report.check("length_timing")
    assert not timing.passed
    assert "follows pixel mean" in timing.findings[0]
    # Same gaps in a random order: no alarm.
    rng = np.random.default_rng(0)
    gaps = np.diff([0.0] + [e[1] for e in ends[:40]])
    shuffled = np.cumsum(rng.permutation(gaps))
    calm = [(e[0], float(s)) for e, s in zip(ends, shuffled)] + [ends[-1]]
    assert audit_capture(capture, frames, arrivals=calm).check("length_timing").passed


# ------------------------------------------------------------------ report, junit, elf


def test_skipped_checks_do_not_fail_but_make_the_audit_incomplete():
    report = AuditReport.of([CheckResult("grammar", True, "ok"), skipped("elf_allowlist", "no")])
    assert report.passed and not report.complete
    assert audit_cli_exit_code(report) == 0 and audit_cli_exit_code(report, strict=True) == 3
    assert "1 skipped, so the audit is incomplete" in report.summary()
    assert "SKIP elf_allowlist: no" in report.summary()


def test_junit_xml_has_one_case_per_check():
    checks = [
        CheckResult("grammar", True, "fine"),
        CheckResult("canary_windows", False, "leak", ["capture offset 3: frame 0"], 25),
        skipped("noninterference_memory", "no debugger"),
    ]
    root = ET.fromstring(junit_xml(AuditReport.of(checks, frames=3)))
    suite = root.find("testsuite")
    assert suite.get("tests") == "3" and suite.get("failures") == "1"
    assert suite.get("skipped") == "1"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    failure = cases["canary_windows"].find("failure")
    assert failure.get("message") == "leak"
    assert "capture offset 3: frame 0" in failure.text and "and 24 more" in failure.text
    assert cases["noninterference_memory"].find("skipped").get("message") == "no debugger"


def test_elf_allowlist_is_skipped_without_an_elf():
    result = check_elf_allowlist(None)
    assert result.skipped and "no production ELF" in result.detail


# ------------------------------------------------------------------ canaries


def test_canaries_are_seeded_and_independent_of_n():
    a = generate_canaries(12, 32, 32, 1, seed=9)
    b = generate_canaries(5, 32, 32, 1, seed=9)
    np.testing.assert_array_equal(a.frames[:5], b.frames)
    assert a.kinds[:5] == KINDS
    assert not np.array_equal(a.frames, generate_canaries(12, 32, 32, 1, seed=10).frames)
    assert len({f.tobytes() for f in a.frames}) == 12


@pytest.mark.parametrize("kind", ["gradient", "checkerboard", "text"])
def test_structured_canaries_keep_away_from_0_128_255(kind):
    f = canary_frame(kind, 3, 0, 64, 64, 3).astype(int)
    in_band = ((f >= LOW_BAND[0]) & (f <= LOW_BAND[1] + 7)) | (
        (f >= HIGH_BAND[0]) & (f <= HIGH_BAND[1] + 7)
    )
    assert in_band.all()


def test_canary_arguments_are_checked():
    with pytest.raises(ValueError, match="unknown canary kind"):
        generate_canaries(2, kinds=["plaid"])
    with pytest.raises(ValueError, match="channels"):
        generate_canaries(2, 8, 8, 2)
