"""The privacy audit (v2, noninterference) against emulated firmware, at the default frame
count: the clean production image passes every verdict check with no false alarm, and
every leak class -- the seven variants of audit v1 and one per class that passed v1
(issue 11) -- built as a *production* image plus one leak, fails the check meant for it.

==============  ==========================  =============================================
variant         fails (meant)               the diagnostics say
==============  ==========================  =============================================
raw_frame       noninterference_output      canary windows: the frame as uint8 pixels
hex_frame       noninterference_output      canary windows in the hex-decoded view
base64_frame    noninterference_output      canary windows in the base64-decoded view
zlib_thumbnail  noninterference_output      image signatures: a zlib stream
pixel_bit       noninterference_output      budget: DECISION flags bit 1 (reserved)
extra_record    noninterference_output      budget: records of undeclared type 0x05
ram_remnant     noninterference_memory      memory: a verbatim copy of the frame
decision_pixel  reference_decisions         (the record is valid: only the bit is wrong)
pixel_delay     noninterference_timing      (bytes identical: only their timing differs)
record_fields   noninterference_output      (a declared field of a declared record)
ram_xor         noninterference_memory      memory: a copy XORed with 0x5a
flash_copy      noninterference_memory      the code region 0x00300000
window_copy     noninterference_memory      the far end of the sensor window
noinit_copy     noninterference_memory      a .noinit buffer
other_uart      noninterference_output      (UART1: a port the protocol never uses)
==============  ==========================  =============================================

Every leaky image also fails ``shipped_image``: it carries the test-only marker.
"""

from __future__ import annotations

import json

import pytest
from hil_fixtures import HAVE_TOOLS, LEAKS, NEW_LEAKS, build_audit_model, build_variant, cache_root

from host_tools.hil_audit import AuditConfig, EmulatorTarget, run_audit, write_outputs
from host_tools.junit import junit_xml
from host_tools.noninterference.emulated import DEFAULT_FRAMES, VERDICT_CHECKS

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.skipif(not HAVE_TOOLS, reason="arm-none-eabi-gcc/qemu-system-arm missing"),
]

#: variant -> (the check meant to catch it, text its findings or diagnostics must show)
MEANT = {
    "raw_frame": ("noninterference_output", "as uint8 pixels"),
    "hex_frame": ("noninterference_output", "hex-decoded run"),
    "base64_frame": ("noninterference_output", "base64-decoded run"),
    "zlib_thumbnail": ("noninterference_output", "complete zlib stream"),
    "pixel_bit": ("noninterference_output", "DECISION flags bit 1 (reserved"),
    "extra_record": ("noninterference_output", "undeclared type 0x05"),
    "ram_remnant": ("noninterference_memory", "as a verbatim copy"),
    "decision_pixel": ("reference_decisions", "the device says"),
    "pixel_delay": ("noninterference_timing", "written at instruction"),
    "record_fields": ("noninterference_output", "UART0 byte"),
    "ram_xor": ("noninterference_memory", "as a copy XORed with 0x5a"),
    "flash_copy": ("noninterference_memory", "mps.ssram1 0x003"),
    "window_copy": ("noninterference_memory", "peekless-main-ram 0x21f"),
    "noinit_copy": ("noninterference_memory", "mps.ssram23 0x200"),
    "other_uart": ("noninterference_output", "UART1 byte 0"),
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return build_audit_model(cache_root(tmp_path_factory))


@pytest.fixture(scope="module")
def firmware(cache):
    root, generated, _ = cache

    def get(leak: str | None, build: str = "production"):
        return build_variant(root, generated, leak, build)

    return get


@pytest.fixture(scope="module")
def tflite(cache):
    return cache[2]


def audit(fw, tflite, **kw):
    kw.setdefault("locate_timing", False)  # timed once, below: it costs a few seconds
    config = AuditConfig(model=tflite, manifest=fw.manifest, **kw)
    return run_audit(EmulatorTarget(fw.elf), config)


def text(report, check: str) -> str:
    lines = list(report.check(check).findings)
    for d in report.diagnostics:
        lines += [d.detail, *d.findings]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def clean_report(firmware, tflite, tmp_path_factory):
    report = audit(firmware(None), tflite)
    out = tmp_path_factory.mktemp("clean_audit")
    write_outputs(report, out / "audit.json", out / "audit.xml")
    return report, out


def test_clean_production_image_passes_with_no_false_alarm(clean_report):
    report, _ = clean_report
    assert report.passed and report.complete, report.summary(findings=True)
    assert [c.name for c in report.checks] == list(VERDICT_CHECKS)
    meta = report.meta
    assert meta["image"] == "production" and meta["frames"] == DEFAULT_FRAMES
    assert meta["statement"].startswith(
        f"observable beyond the declared decisions: nothing, over 2 x {DEFAULT_FRAMES} frames; "
        f"decisions equal to the reference on {DEFAULT_FRAMES}/{DEFAULT_FRAMES} frames"
    )
    # What was compared: every UART, every checkpoint, every RAM block of the board.
    observed = meta["observed"]
    assert len(observed["uarts"]) == 5 and observed["checkpoints"] == DEFAULT_FRAMES + 1
    regions = " ".join(observed["regions"])
    for name in ("mps.ssram1", "mps.blockram", "mps.ssram23", "peekless-main-ram"):
        assert name in regions, regions
    assert observed["byte_writes_timed"] == observed["output_bytes"][0] > 12 * DEFAULT_FRAMES
    # Runs A and B were shown different frames with the same reference decisions, and
    # every bit of the camera frame differed between them at some positions.
    assert meta["pairing"]["unpaired_positions"] == []
    assert set(meta["pairing"]["classes"]) == {"1", "0"}, meta["pairing"]  # hits and misses
    assert meta["coverage"]["bits_never_differing"] == 0, meta["coverage"]
    assert meta["coverage"]["min_positions_per_bit"] >= 1


def test_clean_reports_are_written(clean_report):
    report, out = clean_report
    data = json.loads((out / "audit.json").read_text())
    assert data["passed"] is True and data["statement"] == report.meta["statement"]
    assert [c["name"] for c in data["checks"]] == list(VERDICT_CHECKS)
    xml = (out / "audit.xml").read_text()
    assert f'tests="{len(VERDICT_CHECKS)}" failures="0"' in xml and 'skipped="0"' in xml
    assert junit_xml(report).count("<testcase") == len(VERDICT_CHECKS)


@pytest.fixture(scope="module")
def leak_reports(firmware, tflite):
    reports: dict[str, object] = {}

    def get(leak: str):
        if leak not in reports:
            reports[leak] = audit(firmware(leak), tflite)
        return reports[leak]

    return get


@pytest.mark.parametrize("leak", LEAKS)
def test_every_leak_class_is_caught_by_the_check_meant_for_it(leak_reports, leak):
    report = leak_reports(leak)
    check, shows = MEANT[leak]
    assert check in report.failed, report.summary(findings=True)
    assert shows in text(report, check), report.summary(findings=True)
    assert "shipped_image" in report.failed  # the test-only marker
    assert "pk_test_leak_variant" in text(report, "shipped_image")
    assert "depend on the pixels" in report.meta["statement"] or "reference" in check


def test_a_timing_leak_leaves_the_bytes_and_the_memory_alone(leak_reports):
    """pixel_delay sends exactly the clean bytes: only the definition's timing sees it."""
    report = leak_reports("pixel_delay")
    assert set(report.failed) == {"noninterference_timing", "shipped_image"}
    assert "first difference: while frame" in report.check("noninterference_timing").detail


def test_the_code_behind_a_timing_difference_is_named(firmware, tflite):
    """Every function entry timed for the two frames of the first differing position."""
    report = audit(firmware("pixel_delay"), tflite, frames=4, locate_timing=True)
    where = next(d for d in report.diagnostics if d.name == "timing_location")
    assert "the instruction count of pk_test_leak_replace_decision" in where.findings[0]


def test_a_wrong_decision_bit_is_named_with_its_frame(leak_reports):
    report = leak_reports("decision_pixel")
    first = report.check("reference_decisions").findings[0]
    assert first.startswith("run A: position ") and "the reference" in first


def test_memory_leaks_name_the_region_and_the_frame(leak_reports):
    for leak in ("ram_xor", "flash_copy", "window_copy", "noinit_copy"):
        report = leak_reports(leak)
        assert set(report.failed) == {"noninterference_memory", "shipped_image"}, leak
        diag = text(report, "noninterference_memory")
        assert "of the frame shown at position 0" in diag, (leak, diag)


@pytest.mark.parametrize("leak", NEW_LEAKS[:1])
def test_a_hil_image_is_not_the_shipped_image(firmware, tflite, leak):
    """The audit runs HIL images too (frames through the bank), but never passes one."""
    report = audit(firmware(leak, "hil"), tflite, frames=4)
    assert report.meta["image"] == "hil"
    shipped = text(report, "shipped_image")
    assert "injection: pk_hil_checkpoint" in shipped and "HIL" in shipped


def test_an_event_only_image_passes_and_is_held_to_its_changes(cache, tflite):
    """Event-only policy: a DECISION for the first frame and each change; both runs send
    the same (the pairing keeps every decision), and each is the reference's."""
    from hil_fixtures import ENGINE_CACHE

    from host_tools.firmware_build import build_firmware

    root, generated, _ = cache
    fw = build_firmware(
        "an386", generated, root / "fw-an386-production-event", build="production",
        policy="event", extra=(f"ENGINE_CACHE={ENGINE_CACHE}",),
    )  # fmt: skip
    report = audit(fw, tflite)
    assert report.passed, report.summary(findings=True)
    decisions = report.meta["decisions_a"]
    assert 1 < len(decisions) < DEFAULT_FRAMES  # only the changes were sent
