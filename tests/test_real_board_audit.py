"""The real-board audit (runs A and B one after the other, host_tools/noninterference/
sequential.py) against a QEMU board standing in for a real one: the rig's commands start
it with the frame bank (tests/qemu_board.py), its gdbserver is QEMU's gdbstub, its serial
port a TCP socket. A clean HIL image passes every check it can run; one that keeps an
XORed copy of the frame fails the memory comparison read over the debugger."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hil_fixtures import HAVE_TOOLS, build_audit_model, build_variant, cache_root

from host_tools.emulator import free_port
from host_tools.hil_audit import AuditConfig, Rig, SerialTarget, run_audit

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.skipif(not HAVE_TOOLS, reason="arm-none-eabi-gcc/qemu-system-arm missing"),
]
HELPER = Path(__file__).with_name("qemu_board.py")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return build_audit_model(cache_root(tmp_path_factory))


def qemu_rig(elf: Path) -> Rig:
    serial, gdb = free_port(), free_port()
    return Rig.from_dict(
        {
            "name": "qemu-stand-in",
            "port": f"socket://127.0.0.1:{serial}",
            "board": "an386",
            "bank_addr": "0x21000000",
            "bank_bytes": 1 << 20,
            "ram": [["0x20000000", "0x80000"]],  # the image's RAM (the rest is unused)
            "gdb": f"127.0.0.1:{gdb}",
            "cycle_counter": "0xE0001004",
            "commands": {
                "load_bank": f"{sys.executable} {HELPER} --elf {elf} --bank {{bank}} "
                f"--serial {serial} --gdb {gdb}",
            },
        }
    )


def audit(fw, tflite: Path, **kw):
    rig = qemu_rig(fw.elf)
    target = SerialTarget(rig.port, rig=rig, elf=fw.elf)
    config = AuditConfig(frames=6, model=tflite, manifest=fw.manifest, timing_bound_s=1.0, **kw)
    return run_audit(target, config)


def test_a_clean_board_passes_what_a_lab_can_check(cache):
    root, generated, tflite = cache
    fw = build_variant(root, generated, None, "hil")
    report = audit(fw, tflite)
    by = {c.name: c for c in report.checks}
    for name in ("protocol", "noninterference_output", "noninterference_timing",
                 "noninterference_memory", "reference_decisions"):  # fmt: skip
        assert by[name].passed and not by[name].skipped, report.summary(findings=True)
    assert "cycle counter compared at 6 checkpoints" in by["noninterference_timing"].detail
    assert "6 checkpoints" in by["noninterference_memory"].detail
    # A HIL image is not the shipped one: without the production ELF that stays unproven.
    assert by["shipped_image"].skipped and not report.complete
    assert "over 2 x 6 frames on a real board" in report.meta["statement"]
    json.dumps(report.to_json())  # the report serialises


def test_a_board_that_keeps_a_copy_fails_the_memory_comparison(cache):
    root, generated, tflite = cache
    fw = build_variant(root, generated, "ram_xor", "hil")
    report = audit(fw, tflite)
    assert "noninterference_memory" in report.failed, report.summary(findings=True)
    assert report.check("noninterference_memory").findings[0].startswith("after frame 0: RAM 0x2")
