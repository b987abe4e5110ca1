"""The privacy audit: a clean capture passes, and each check fails on its own leak."""

from __future__ import annotations

import gzip
import json
import struct
import time
import zlib

import numpy as np
import pytest

from host_tools.audit import (
    CAPTURE_CHECK_NAMES,
    MAX_FINDINGS,
    audit_capture,
    audit_cli_exit_code,
)
from host_tools.frame_bank import encode_frame_bank
from host_tools.protocol import Bye, Decision, Hello, Stats, encode_record, frame_body

SHA = bytes.fromhex("5d" * 16 + "a7" * 16)
MANIFEST = {
    "proto_version": 1,
    "build_kind": "hil",
    "policy": "per_frame",
    "leak_budget_bits": 1,
    "fw_version": "0.1.0",
    "board": "an386",
    "model_sha256": SHA.hex(),
}


def make_frames(n: int = 12, h: int = 16, w: int = 16, c: int = 1, seed: int = 0):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, c), dtype=np.uint8)


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


def records_for(n: int, hil: bool = True, **hello_kw) -> list:
    out = [hello(build_kind=int(hil), **hello_kw)]
    out += [Decision(i, i % 3 == 1) for i in range(n)]
    if hil:
        out += [Stats(n, 1000, 1200, 1100 * n), Bye(n)]
    return out


def capture_of(records) -> bytes:
    return b"".join(encode_record(r) for r in records)


def failed(report) -> set[str]:
    return {c.name for c in report.checks if not c.passed}


# ------------------------------------------------------------------ clean


@pytest.mark.parametrize("hil", [True, False])
def test_clean_capture_passes_every_check(hil):
    frames = make_frames()
    manifest = dict(MANIFEST, build_kind=1 if hil else "production")
    report = audit_capture(capture_of(records_for(len(frames), hil=hil)), frames, manifest)
    assert report.passed, report.summary(findings=True)
    assert [c.name for c in report.checks] == list(CAPTURE_CHECK_NAMES)
    assert all(c.findings == [] for c in report.checks)
    assert audit_cli_exit_code(report) == 0
    lines = report.summary().splitlines()
    assert lines[0].startswith("privacy audit PASS: 6/6")
    assert [line.split()[0] for line in lines[1:]] == ["PASS"] * 6
    as_json = json.loads(json.dumps(report.to_json()))
    assert as_json["passed"] is True and len(as_json["checks"]) == 6


def test_constant_frames_do_not_raise_false_alarms():
    # 0x01 runs are exactly what COBS makes of HELLO's NUL padding, and 0x81 is 0x01 as
    # int8 input; flat frames of any value must not match.
    values = [0x00, 0x01, 0x02, 0x80, 0x81, 0xFF]
    frames = np.stack([np.full((16, 16, 1), v, np.uint8) for v in values])
    report = audit_capture(capture_of(records_for(len(frames))), frames, MANIFEST)
    assert report.passed, report.summary(findings=True)
    canary = report.check("canary_windows")
    assert "constant windows skipped" in canary.detail
    assert "every frame window is constant" in canary.detail


def test_mostly_flat_frames_with_edges_pass():
    frames = np.zeros((4, 16, 16, 1), np.uint8)
    frames[:, :, 8:] = 255  # half black, half white
    frames[1, 3, 3] = 1
    frames[2] = 1
    frames[2, ::2, ::2] = 2
    report = audit_capture(capture_of(records_for(4)), frames, MANIFEST)
    assert report.passed, report.summary(findings=True)


# ------------------------------------------------------------------ grammar


def test_leaky_device_appending_raw_frame_fails_canary_and_grammar():
    frames = make_frames()
    clean = capture_of(records_for(len(frames)))
    bye = encode_record(Bye(len(frames)))
    leak_at = len(clean) - len(bye)  # the leak comes just before BYE
    capture = clean[:leak_at] + frames[5].tobytes() + bye
    report = audit_capture(capture, frames, MANIFEST)
    assert not report.passed and audit_cli_exit_code(report) == 1
    assert {"grammar", "canary_windows"} <= failed(report)
    assert "image_signatures" not in failed(report)
    canary = report.check("canary_windows")
    assert any(
        f.startswith(
            f"capture offset {leak_at}..{leak_at + 255}: 256 bytes of frame 5 from "
            f"pixel offset 0 (row 0, col 0) as uint8 pixels"
        )
        for f in canary.findings
    ), canary.findings
    grammar = report.check("grammar")
    assert any(
        f.startswith(f"offset {leak_at}: ") and "not part of any valid frame" in f
        for f in grammar.findings
    ), grammar.findings
    text = report.summary(findings=True)
    assert "FAIL canary_windows" in text and "FAIL grammar" in text


def test_int8_model_input_leak_is_found_mid_frame():
    frames = make_frames()
    clean = capture_of(records_for(len(frames)))
    model_input = (frames[3].reshape(-1) ^ 0x80).astype(np.uint8)  # pixel - 128 as int8
    assert np.array_equal(model_input.view(np.int8), (frames[3].reshape(-1).astype(int) - 128))
    leak = model_input[40:60].tobytes()  # 20 bytes from pixel offset 40 (row 2, col 8)
    report = audit_capture(clean + leak, frames)
    canary = report.check("canary_windows")
    assert not canary.passed
    assert canary.findings[0].startswith(
        f"capture offset {len(clean)}..{len(clean) + 19}: "
        "20 bytes of frame 3 from pixel offset 40 "
        "(row 2, col 8) as int8 model input"
    )


def test_leak_inside_cobs_frames_is_found_after_decoding():
    # Every 4th pixel is 0: COBS rewrites all zeros, so no 8-byte window of this frame
    # is in the raw bytes; the decoded chunk still has them.
    frames = make_frames()
    frames[7].reshape(-1)[::4] = 0
    clean = capture_of(records_for(len(frames)))
    chunk_at = len(clean)
    capture = clean + frame_body(frames[7].tobytes())
    report = audit_capture(capture, frames)
    canary = report.check("canary_windows")
    assert not canary.passed
    assert canary.findings[0].startswith(
        f"capture offset {chunk_at} (inside the COBS-decoded chunk there, decoded bytes 0..255)"
        ": 256 bytes of frame 7"
    ), canary.findings


def test_grammar_alone_fails_on_seq_smuggling():
    frames = make_frames(4)
    # seq numbers that carry pixel values instead of counting 0, 1, 2, 3
    recs = [hello()] + [Decision(int(frames[i, 0, 0, 0]) + 1000 * i, False) for i in range(4)]
    report = audit_capture(capture_of(recs), frames)
    assert failed(report) == {"grammar"}
    assert "want 0 (consecutive from 0)" in report.check("grammar").findings[0]


@pytest.mark.parametrize(
    "records, message",
    [
        ([Decision(0, True), hello()], "first record is DECISION"),
        ([hello(), hello(), Decision(0, True)], "extra HELLO"),
        ([hello(), Decision(0, True), Bye(1), Decision(1, True)], "bytes after BYE"),
        ([hello(), Decision(0, True), Stats(2, 1, 2, 3)], "STATS frames=2 but 1 DECISIONs"),
        ([hello(), Decision(0, True), Stats(1, 5, 2, 3)], "insn_min 5 > insn_max 2"),
        ([hello(), Stats(0, 1, 2, 3), Decision(0, True)], "after STATS"),
        ([hello(build_kind=0), Decision(0, True), Bye(1)], "BYE in a production build"),
    ],
)
def test_grammar_rules(records, message):
    frames = make_frames(sum(isinstance(r, Decision) for r in records))
    report = audit_capture(capture_of(records), frames)
    grammar = report.check("grammar")
    assert not grammar.passed
    assert any(message in f for f in grammar.findings), grammar.findings
    assert all(f.startswith("offset ") for f in grammar.findings)


def test_grammar_checks_hello_against_manifest():
    frames = make_frames(2)
    manifest = dict(MANIFEST, model_sha256="00" * 32, board="an547", unrelated_key=3)
    report = audit_capture(capture_of(records_for(2)), frames, manifest)
    grammar = report.check("grammar")
    assert not grammar.passed
    text = "\n".join(grammar.findings)
    assert "offset 0: HELLO disagrees with the manifest: model_sha256" in text
    assert "board: HELLO says 'an386', manifest says 'an547'" in text
    assert "not compared: unrelated_key" in grammar.detail


def test_findings_are_capped():
    frames = make_frames(30)
    recs = records_for(30, hil=False)
    capture = b"".join(encode_record(r) + b"?\x00" for r in recs)
    grammar = audit_capture(capture, frames).check("grammar")
    assert len(grammar.findings) == MAX_FINDINGS and grammar.findings_total == 31
    assert "[31 findings, first 20 listed]" in grammar.detail


# ------------------------------------------------------------------ budget


def test_budget_alone_fails_on_one_extra_decision():
    frames = make_frames(5)
    recs = [hello(build_kind=0)] + [Decision(i, False) for i in range(6)]
    capture = capture_of(recs)
    report = audit_capture(capture, frames, dict(MANIFEST, build_kind=0))
    assert failed(report) == {"budget"}, report.summary(findings=True)
    budget = report.check("budget")
    extra_at = len(encode_record(recs[0])) + 5 * len(encode_record(recs[1]))
    assert budget.findings == [
        f"offset {extra_at}: 6 DECISIONs for 5 injected frames; 1 extra from here on"
    ]


def test_budget_fails_on_missing_decision_and_on_inflated_budget():
    frames = make_frames(5)
    report = audit_capture(capture_of(records_for(4, hil=False)), frames)
    assert "4 DECISIONs for 5 injected frames; 1 missing" in report.check("budget").findings[0]

    recs = records_for(5, leak_budget_bits=8)
    report = audit_capture(capture_of(recs), frames, dict(MANIFEST, leak_budget_bits=1))
    budget = report.check("budget")
    assert not budget.passed
    assert "HELLO declares 8 bits per frame, the manifest allows 1" in budget.findings[0]

    recs = records_for(5, leak_budget_bits=0)
    budget = audit_capture(capture_of(recs), frames).check("budget")
    assert not budget.passed and "declares a budget of 0 bits" in budget.findings[0]


def test_budget_fails_closed_on_event_only_policy():
    frames = make_frames(3)
    budget = audit_capture(capture_of(records_for(3, policy=1)), frames).check("budget")
    assert not budget.passed and "only the per-frame policy" in budget.findings[0]


# ------------------------------------------------------------------ canary alone


def test_canary_alone_catches_pixels_smuggled_in_hello():
    # Valid grammar and budget, but HELLO's model_sha256 carries 32 pixels.
    frames = make_frames()
    smuggled = frames[9].reshape(-1)[64:96].tobytes()
    if 0 in smuggled:  # keep the test about the raw view
        smuggled = bytes(b or 1 for b in smuggled)
        frames[9].reshape(-1)[64:96] = np.frombuffer(smuggled, np.uint8)
    report = audit_capture(capture_of(records_for(len(frames), model_sha256=smuggled)), frames)
    assert failed(report) == {"canary_windows"}, report.summary(findings=True)
    finding = report.check("canary_windows").findings[0]
    assert "32 bytes of frame 9 from pixel offset 64 (row 4, col 0) as uint8 pixels" in finding
    assert finding.startswith("capture offset 30..61:")  # COBS code byte + type + 28 bytes


# ------------------------------------------------------------------ image signatures


def _bmp_header() -> bytes:
    return b"BM" + struct.pack("<IHHI", 70, 0, 0, 54) + struct.pack("<IiiHH", 40, 2, 2, 1, 24)


SIGNATURES = {
    "png": (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR", "PNG signature"),
    "jpeg": (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG SOI marker"),
    "gif": (b"GIF89a\x10\x00\x10\x00", "GIF89a header"),
    "bmp": (_bmp_header(), "BMP header"),
    "tiff": (b"II*\x00\x08\x00\x00\x00", "TIFF header"),
    "webp": (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "WebP container"),
    "pgm": (b"P5\n96 96\n255\n", "netpbm header"),
    "gzip": (gzip.compress(b"x" * 100, mtime=0), "gzip header"),
    "zlib": (zlib.compress(bytes(range(200))), "complete zlib stream (checksum ok) inflating"),
    "zlib-cut": (zlib.compress(bytes(20000), 0)[:6000], "zlib stream inflating to more than"),
    "pkfb": (encode_frame_bank(np.full((1, 2, 2, 1), 7, np.uint8)), "frame bank header"),
}


@pytest.mark.parametrize("kind", sorted(SIGNATURES))
def test_image_signatures(kind):
    blob, name = SIGNATURES[kind]
    frames = make_frames(3)
    clean = capture_of(records_for(3))
    report = audit_capture(clean + blob, frames)
    check = report.check("image_signatures")
    assert not check.passed
    assert any(
        f.startswith(f"capture offset {len(clean)}") and name in f for f in check.findings
    ), check.findings
    assert report.check("canary_windows").passed


def test_image_signature_alone_in_a_valid_record():
    frames = make_frames(3)
    sha = b"\x89PNG\r\n\x1a\n" + bytes(range(1, 25))
    report = audit_capture(capture_of(records_for(3, model_sha256=sha)), frames)
    assert failed(report) == {"image_signatures"}
    assert report.check("image_signatures").findings == ["capture offset 30..37: PNG signature"]


def test_signature_inside_cobs_frame_is_found():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    frames = make_frames(1)
    clean = capture_of(records_for(1))
    # A zlib stream with zeros in it survives only in the decoded view.
    payload = zlib.compress(bytes(300))
    report = audit_capture(clean + frame_body(payload) + frame_body(png), frames)
    findings = report.check("image_signatures").findings
    assert any("inside the COBS-decoded chunk" in f and "zlib" in f for f in findings)
    assert any("PNG signature" in f for f in findings)


def test_bm_without_plausible_header_is_not_bmp():
    frames = make_frames(1)
    capture = capture_of(records_for(1, fw_version="BM0.1", board="BMBMBMBMBMBM"))
    assert audit_capture(capture, frames).passed


# ------------------------------------------------------------------ api, scale


def test_argument_checks():
    frames = make_frames(1)
    with pytest.raises(ValueError, match="uint8"):
        audit_capture(b"", frames.astype(np.int16))
    with pytest.raises(ValueError, match="window"):
        audit_capture(b"", frames, window=3)
    with pytest.raises(TypeError, match="manifest"):
        audit_capture(b"", frames, manifest=[1])


def test_empty_capture_fails_grammar_and_budget():
    report = audit_capture(b"", make_frames(2))
    assert failed(report) == {"grammar", "budget"}


@pytest.mark.parametrize("window", [6, 16])
def test_other_window_sizes(window):
    frames = make_frames()
    clean = capture_of(records_for(len(frames)))
    report = audit_capture(clean + frames[2, 4].tobytes(), frames, window=window)
    canary = report.check("canary_windows")
    assert not canary.passed and "16 bytes of frame 2 from pixel offset 64" in canary.findings[0]
    assert audit_capture(clean, frames, window=window).passed


def test_scale_200_frames_and_megabytes_of_capture():
    rng = np.random.default_rng(7)
    frames = rng.integers(0, 256, (200, 96, 96, 1), dtype=np.uint8)
    clean = capture_of(records_for(200, hil=False))
    noise = rng.integers(0, 256, 3_000_000, dtype=np.uint8).tobytes()
    capture = clean + noise + frames[123].tobytes()
    t0 = time.perf_counter()
    report = audit_capture(capture, frames)
    elapsed = time.perf_counter() - t0
    canary = report.check("canary_windows")
    assert [f.split(":")[1].strip() for f in canary.findings] == [
        "9216 bytes of frame 123 from pixel offset 0 (row 0, col 0) as uint8 pixels"
    ]
    assert canary.findings[0].startswith(f"capture offset {len(clean) + len(noise)}..")
    assert elapsed < 10, f"audit of {len(capture)} bytes took {elapsed:.1f} s"
    t0 = time.perf_counter()
    assert audit_capture(clean, frames).passed
    assert time.perf_counter() - t0 < 5


def test_boot_chatter_and_truncated_tail_fail_grammar():
    frames = make_frames(2)
    clean = capture_of(records_for(2, hil=False))
    grammar = audit_capture(b"boot ok\r\n" + clean, frames).check("grammar")
    assert not grammar.passed
    assert grammar.findings[0].startswith("offset 0: 9 bytes not part of any valid frame")
    assert "offset 9: HELLO is not at the start of the stream" in grammar.findings
    grammar = audit_capture(clean + b"\x03\x02", frames).check("grammar")
    want = f"offset {len(clean)}: 2 bytes not part of any valid frame: truncated frame at end"
    assert grammar.findings == [want + " of stream"]
