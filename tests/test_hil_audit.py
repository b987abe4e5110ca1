"""The whole audit against emulated firmware: a clean build passes every check, and each
deliberately leaky build (make LEAK=<name>) is caught by the check meant for it.

Leak variants (firmware/app/pk_test_leaks_hil.h) and the check meant for each:

==============  ====================================================================
raw_frame       canary_windows, in the raw bytes
hex_frame       canary_windows, in a hex-decoded view
base64_frame    canary_windows, in a base64-decoded view
zlib_thumbnail  image_signatures (zlib stream) and canary_windows (thumbnail)
pixel_bit       differential (same label, different pixels) and budget (reserved bit)
extra_record    grammar (undeclared record type) and budget
ram_remnant     ram_remnants, with every output check passing
==============  ====================================================================
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hil_fixtures import HAVE_TOOLS, LEAKS, build_tiny_model, build_variant, cache_root

from host_tools.audit import CHECK_NAMES
from host_tools.hil_audit import AuditConfig, EmulatorTarget, run_audit, write_outputs
from host_tools.junit import junit_xml

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.skipif(not HAVE_TOOLS, reason="arm-none-eabi-gcc/qemu-system-arm missing"),
]

CLEAN_FRAMES = 30
LEAK_FRAMES = 12


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = cache_root(tmp_path_factory)
    return root, build_tiny_model(root)


@pytest.fixture(scope="module")
def firmware(cache):
    root, generated = cache

    def get(leak: str | None, build: str = "hil"):
        return build_variant(root, generated, leak, build)

    return get


def audit(fw, frames: int, **kw):
    return run_audit(EmulatorTarget(fw.elf), AuditConfig(frames=frames, manifest=fw.manifest, **kw))


def failed(report) -> set[str]:
    return set(report.failed)


def findings(report, check: str) -> str:
    return "\n".join(report.check(check).findings)


@pytest.fixture(scope="module")
def clean_report(firmware, tmp_path_factory):
    fw = firmware(None)
    production = firmware(None, "production")
    report = audit(fw, CLEAN_FRAMES, production_elf=production.elf)
    out = tmp_path_factory.mktemp("clean_audit")
    write_outputs(report, out / "audit.json", out / "audit.xml")
    return report, out


def test_clean_build_passes_every_check(clean_report):
    report, _ = clean_report
    assert report.passed, report.summary(findings=True)
    assert [c.name for c in report.checks] == list(CHECK_NAMES)
    assert report.complete, "every check ran, none skipped"
    meta = report.meta
    assert meta["run_a"]["decisions"] == CLEAN_FRAMES and meta["run_a"]["bye"]
    assert meta["run_a"]["exit_code"] == 0 and meta["run_b"]["decisions"] == CLEAN_FRAMES
    assert "30 RAM snapshots" in report.check("ram_remnants").detail
    assert "last after frame 29" in report.check("ram_remnants").detail
    diff = report.check("differential").detail
    assert f"{CLEAN_FRAMES} of {CLEAN_FRAMES} positions" in diff, diff
    # The model's decision boundary is centred on the canaries: both labels occur.
    assert " 0 person" not in diff and " 0 no person" not in diff, diff
    assert meta["frames_per_minute"] >= 60, meta


def test_clean_build_reports_are_written(clean_report):
    report, out = clean_report
    data = json.loads((out / "audit.json").read_text())
    assert data["passed"] is True and len(data["checks"]) == len(CHECK_NAMES)
    assert data["meta"]["hello"]["board"] == "an386"
    xml = (out / "audit.xml").read_text()
    assert 'tests="9" failures="0"' in xml and 'skipped="0"' in xml
    assert junit_xml(report).count("<testcase") == len(CHECK_NAMES)
    assert f"full report: {out / 'audit.json'}" in report.summary()


@pytest.fixture(scope="module")
def leak_reports(firmware):
    cache: dict[str, object] = {}

    def get(leak: str):
        if leak not in cache:
            cache[leak] = audit(firmware(leak), LEAK_FRAMES)
        return cache[leak]

    return get


def test_raw_frame_is_caught_by_canary_windows(leak_reports):
    report = leak_reports("raw_frame")
    assert "canary_windows" in failed(report)
    text = findings(report, "canary_windows")
    from host_tools.protocol import FRAME_SIZES, TYPE_DECISION, TYPE_HELLO

    at = FRAME_SIZES[TYPE_HELLO] + FRAME_SIZES[TYPE_DECISION]  # after HELLO and DECISION 0
    assert f"capture offset {at}..{at + 9215}: 9216 bytes of frame 0 from pixel offset 0" in text, text


def test_hex_frame_is_caught_in_the_hex_view(leak_reports):
    report = leak_reports("hex_frame")
    assert "canary_windows" in failed(report)
    first = report.check("canary_windows").findings[0]
    assert (
        "inside the hex-decoded run there, decoded bytes 0..9215): 9216 bytes of frame 0" in first
    )


def test_base64_frame_is_caught_in_the_base64_view(leak_reports):
    report = leak_reports("base64_frame")
    assert "canary_windows" in failed(report)
    first = report.check("canary_windows").findings[0]
    assert "base64-decoded run there, decoded bytes 0..9215): 9216 bytes of frame 0" in first


def test_zlib_thumbnail_is_caught_as_zlib_and_as_thumbnail(leak_reports):
    report = leak_reports("zlib_thumbnail")
    assert {"image_signatures", "canary_windows"} <= failed(report)
    assert "complete zlib stream (checksum ok) inflating to 576 bytes" in findings(
        report, "image_signatures"
    )
    text = findings(report, "canary_windows")
    assert "inside the zlib stream there" in text and "24x24" in text, text
    assert "thumbnail of frame 0 " in text


def test_pixel_bit_is_caught_by_differential_and_budget(leak_reports):
    report = leak_reports("pixel_bit")
    assert {"differential", "budget"} <= failed(report)
    assert "share the label" in findings(report, "differential")
    assert "DECISION flags bit 1 (reserved, must be 0)" in findings(report, "budget")


def test_extra_record_is_caught_by_grammar_and_budget(leak_reports):
    report = leak_reports("extra_record")
    assert {"grammar", "budget"} <= failed(report)
    assert "unknown type 0x05" in findings(report, "grammar")
    assert "well-framed records of undeclared type 0x05 with 16-byte payloads" in findings(
        report, "budget"
    )


def test_ram_remnant_is_caught_by_ram_remnants_alone(leak_reports):
    report = leak_reports("ram_remnant")
    assert failed(report) == {"ram_remnants"}, report.summary(findings=True)
    text = findings(report, "ram_remnants")
    assert "after frame 0: RAM sections 0x2" in text and "9216 bytes of frame 0" in text, text


def test_elf_allowlist_fails_a_hil_image_given_as_production(firmware):
    from host_tools.audit import check_elf_allowlist

    result = check_elf_allowlist(firmware("raw_frame").elf)
    assert not result.passed
    text = "\n".join(result.findings)
    assert "injection: pk_hil_checkpoint" in text and "leak" in text, text


@pytest.mark.parametrize("leak", LEAKS)
def test_every_leaky_variant_fails_the_audit(leak_reports, leak):
    report = leak_reports(leak)
    assert not report.passed
    assert report.meta["run_a"]["decisions"] > 0  # it ran; the leak is what failed it


def test_frames_with_the_same_label_are_paired(firmware):
    """Run B shows every position another frame of the same label; labels differ."""
    fw = firmware(None)
    report = audit(fw, 16, ram=False)
    assert report.passed, report.summary(findings=True)
    assert report.check("ram_remnants").skipped
    hello = report.meta["hello"]
    assert hello["model_sha256"] == fw.manifest["model_sha256"]


def test_given_bank_frames_are_used(firmware):
    fw = firmware(None)
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (6, 96, 96, 1), dtype=np.uint8)
    report = audit(fw, 0, bank_frames=frames, differential=False)
    assert report.passed, report.summary(findings=True)
    assert report.frames == 6 and report.meta["canary_kinds"] == ["given"]


def test_long_audits_are_split_into_boots_that_fit_the_bank(firmware):
    fw = firmware(None)
    report = audit(fw, 10, frames_per_run=4)  # 3 boots: 3 + 4 + 3 frames
    assert report.passed, report.summary(findings=True)
    assert report.meta["boots"] == 3 and report.meta["run_a"]["decisions"] == 10
    assert report.check("grammar").detail.startswith("3 boots of up to 4 frames; boot 1: ")


def test_a_boot_that_cannot_fit_is_refused_clearly(firmware, tmp_path):
    from host_tools.hil_audit import AuditError

    target = EmulatorTarget(firmware(None).elf, workdir=tmp_path)
    frames = np.zeros((2, 2048, 2048, 3), np.uint8)  # 25 MB: more than the 16 MiB window
    with (
        pytest.raises(AuditError, match="does not fit the 16777216-byte frame-bank window"),
        target.open(frames),
    ):
        pass


def test_a_leak_in_a_later_boot_names_the_boot(firmware):
    report = audit(firmware("extra_record"), 6, frames_per_run=3)
    grammar = report.check("grammar")
    assert not grammar.passed and "failed in boots 1, 2" in grammar.detail
    assert any(f.startswith("boot 2 (frames 3..5): offset ") for f in grammar.findings)
    assert "failed in boots 1, 2" in report.check("budget").detail


def test_open_emulator_gives_back_a_session(firmware):
    from host_tools.canaries import generate_canaries
    from host_tools.hil_audit import open_emulator
    from host_tools.protocol import Bye, Decision

    frames = generate_canaries(3, 96, 96, 1).frames
    with open_emulator(firmware(None).elf, frames) as dev:
        assert dev.expect_hello(timeout_s=10).board == "an386"
        records = dev.read_until_bye(timeout_s=30)
    assert [r.seq for r in records if isinstance(r, Decision)] == [0, 1, 2]
    assert records[-1] == Bye(3)
