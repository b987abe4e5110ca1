"""The noninterference audit's parts that need no emulator: reading QEMU's memory map,
stop replies, run B's frame order and pairing, camera canaries, the verdict checks on
synthetic lockstep results, the memory diagnostic and the shipped-image comparison."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from host_tools.audit.diagnostics import memory_copies
from host_tools.audit.noninterference import (
    check_memory,
    check_output,
    check_reference,
    check_timing,
    statement,
)
from host_tools.frame_bank import FORMAT_GRAY8, FORMAT_RGB565, FORMAT_YUYV
from host_tools.noninterference import frames as nf
from host_tools.noninterference.feeders import CameraFrames
from host_tools.noninterference.lockstep import LockstepResult, MemoryDiff, RunTrace, _group
from host_tools.noninterference.machine_map import build_map, parse_flatviews, parse_ramblocks
from host_tools.noninterference.rsp import parse_stop
from host_tools.noninterference.sequential import check_image_equivalence
from host_tools.protocol import Decision, Hello, encode_record

# ---------------------------------------------------------------- QEMU's memory map

MTREE = """FlatView #0
 AS "cpu-memory-0", root: armv7m-container
 Root memory region: armv7m-container
  0000000000000000-00000000003fffff (prio 0, ram): mps.ssram1 owner:{obj path=/machine/u}
  0000000000400000-00000000007fffff (prio 0, ram): mps.ssram1 owner:{obj path=/machine/u}
  0000000001000000-0000000001003fff (prio 0, ram): mps.blockram owner:{obj path=/machine/u}
  0000000021000000-00000000211fffff (prio 0, i/o): tz-mpc-upstream owner:{dev path=/machine/mpc0}
  0000000028000000-00000000287fffff (prio 0, i/o): tz-mpc-upstream owner:{dev path=/machine/qspi-mpc}
  0000000040004000-0000000040004fff (prio 0, i/o): uart owner:{dev path=/machine/uart0}
  0000000049303000-0000000049303fff (prio 0, i/o): tz-ppc-port[3] owner:{dev path=/machine/ppc}
  0000000060000000-00000000dfffffff (prio 0, i/o): tz-mpc-upstream owner:{dev path=/machine/ddr-mpc}
  00000000e000e0f0-00000000e000efff (prio 0, i/o): nvic_sysregs @00000000000000f0 owner:{dev path=/machine/nvic}

FlatView #1
 AS "tz-mpc-downstream", root: sram0
 Root memory region: sram0
  0000000000000000-00000000001fffff (prio 0, ram): sram0 parent:{obj path=/machine/unattached}

FlatView #2
 AS "tz-mpc-downstream", root: QSPI
 Root memory region: QSPI
  0000000000000000-00000000007fffff (prio 0, rom): QSPI parent:{obj path=/machine/unattached}

FlatView #3
 AS "memory", root: system
 Root memory region: system
  0000000030000000-00000000303fffff (prio 0, ram): hidden
"""

RAMBLOCKS = """              Block Name    PSize              Offset               Used              Total
                    main    4 KiB  0x0000000000000000 0x0000000080000000 0x0000000080000000
              mps.ssram1    4 KiB  0x0000000080000000 0x0000000000400000 0x0000000000400000
            mps.blockram    4 KiB  0x0000000080400000 0x0000000000004000 0x0000000000004000
                   sram0    4 KiB  0x0000000080500000 0x0000000000200000 0x0000000000200000
                    QSPI    4 KiB  0x0000000080700000 0x0000000000800000 0x0000000000800000
                  hidden    4 KiB  0x0000000080f00000 0x0000000000400000 0x0000000000400000
                 nowhere    4 KiB  0x0000000081300000 0x0000000000001000 0x0000000000001000
"""

QOM = {
    ("/machine/mpc0", "downstream"): "/machine/unattached/sram0[0]",
    ("/machine/qspi-mpc", "downstream"): "/machine/unattached/QSPI[0]",
    ("/machine/ddr-mpc", "downstream"): "/objects/main/main[0]",
    ("/machine/ppc", "port[3]"): "/machine/uart1/uart[0]",
    ("/machine/uart0", "type"): "cmsdk-apb-uart",
    ("/machine/uart1", "type"): "cmsdk-apb-uart",
    ("/machine/uart0", "chardev"): "uart0",
    ("/machine/uart1", "chardev"): "uart1",
    ("/machine/nvic", "type"): "armv7m_nvic",
}


class FakeQmp:
    def hmp(self, line: str) -> str:
        return {"info ramblock": RAMBLOCKS, "info mtree -f -o": MTREE}[line]

    def execute(self, command: str, path: str, property: str):
        assert command == "qom-get"
        if (path, property) not in QOM:
            raise RuntimeError("no such property")
        return QOM[(path, property)]


def test_every_ram_block_is_found_where_the_cpu_sees_it():
    m = build_map(FakeQmp(), main_ram="main")
    regions = {r.name: r for r in m.regions}
    # Aliases read once; blocks behind a TrustZone MPC followed to where the CPU sees them.
    assert regions["mps.ssram1"].addr == 0 and regions["mps.ssram1"].via == "cpu"
    assert regions["mps.blockram"].size == 0x4000
    assert (regions["sram0"].addr, regions["sram0"].via) == (0x21000000, "cpu")
    assert (regions["QSPI"].kind, regions["QSPI"].addr) == ("rom", 0x28000000)
    # The main RAM is the mapped file; a block only the system bus sees is read there.
    assert (regions["main"].via, regions["main"].addr) == ("backend", 0x60000000)
    assert (regions["hidden"].via, regions["hidden"].addr) == ("system", 0x30000000)
    assert [r.name for r in m.regions if r.name == "mps.ssram1"] == ["mps.ssram1"]
    assert any("nowhere" in n and "not read" in n for n in m.notes)
    # UARTs: direct, and behind a TrustZone PPC port; nothing else is a UART.
    assert [(u.device, u.chardev, u.data_addrs) for u in m.uarts] == [
        ("/machine/uart0", "uart0", [0x40004000]),
        ("/machine/uart1", "uart1", [0x49303000]),
    ]
    assert m.uart_of(0x49303000) == 1


def test_mtree_and_ramblock_text_is_parsed_whatever_the_names():
    views = parse_flatviews(MTREE)
    assert [names for names, _ in views] == [
        ["cpu-memory-0"], ["tz-mpc-downstream"], ["tz-mpc-downstream"], ["memory"]
    ]  # fmt: skip
    nvic = next(e for e in views[0][1] if e.name == "nvic_sysregs")
    assert (nvic.offset, nvic.owner, nvic.size) == (0xF0, "/machine/nvic", 0xF10)
    assert parse_ramblocks(RAMBLOCKS)["main"] == 1 << 31


# ---------------------------------------------------------------- the debugger link


@pytest.mark.parametrize(
    "reply, kind, addr, code",
    [
        (b"T05thread:01;watch:40004000;", "watch", 0x40004000, None),
        (b"T05watch:49303000;thread:01;", "watch", 0x49303000, None),
        (b"T05thread:01;", "break", None, None),
        (b"W00", "exit", None, 0),
        (b"W03", "exit", None, 3),
        (b"X0b", "exit", None, 128 + 11),
        (b"OK", "other", None, None),
    ],
)
def test_stop_replies(reply, kind, addr, code):
    stop = parse_stop(reply)
    assert (stop.kind, stop.addr, stop.code) == (kind, addr, code)


# ---------------------------------------------------------------- frames and pairing


def test_rotation_keeps_every_frame_in_its_class_and_moves_it():
    keys = [True, False, True, True, b"\x01", False, b"\x01", "alone"]
    order = nf.rotation_order(keys, seed=3)
    assert sorted(order.tolist()) == list(range(len(keys)))
    for i, j in enumerate(order.tolist()):
        assert keys[i] == keys[j]
        assert (i == j) == (keys[i] == "alone")


@pytest.mark.parametrize("pixfmt", [FORMAT_GRAY8, FORMAT_RGB565, FORMAT_YUYV])
def test_camera_canaries_have_the_camera_format_and_are_seeded(pixfmt):
    frames, kinds = nf.camera_canaries(range(5), 32, 24, pixfmt, seed=2)
    again, _ = nf.camera_canaries([3], 32, 24, pixfmt, seed=2)
    assert frames.data.shape == (5, 24, 32, 1 if pixfmt == FORMAT_GRAY8 else 2)
    assert kinds[0] == "noise" and np.array_equal(frames.data[3], again.data[0])
    # The structured kinds look like their RGB drawing through the project's preprocessing.
    from training.camera_preprocess import to_rgb

    rgb = to_rgb(frames.data[1].reshape(-1), 32, 24, pixfmt)
    assert rgb.std() > 5


class ArgmaxOf:
    """A stand-in model: the reference output of a frame is read off its first bytes."""

    def __call__(self, tflite, inputs):
        return np.asarray([[x[0, 0, 0], x[0, 1, 0]] for x in inputs], np.int8)


def test_frame_selection_gives_every_lone_class_a_partner(monkeypatch):
    from host_tools.decision_rule import DecisionRule

    monkeypatch.setattr(nf, "reference_outputs", ArgmaxOf())
    rule = DecisionRule.from_manifest(None)
    chosen = nf.select_frames(8, 16, 16, FORMAT_GRAY8, (16, 16, 1), None, rule, seed=1)
    counts = {k: chosen.keys.count(k) for k in set(chosen.keys)}
    assert all(c >= 2 for c in counts.values()), counts
    assert chosen.unpaired == [] and len(chosen.frames) == 8
    assert np.array_equal(chosen.decisions_a, chosen.decisions_b)
    for i, j in enumerate(chosen.order.tolist()):
        assert i != j and chosen.keys[i] == chosen.keys[j]
        assert not np.array_equal(chosen.frames.data[i], chosen.frames.data[j])


def test_pixel_coverage_counts_positions_per_bit():
    data = np.zeros((3, 1, 2, 1), np.uint8)
    data[1, 0, 0, 0] = 0x80  # only the top bit of byte 0 ever differs
    cov = nf.pixel_coverage(CameraFrames(data, FORMAT_GRAY8), np.array([1, 0, 2]))
    assert cov["bits"] == 16 and cov["bits_never_differing"] == 15
    assert cov["min_positions_per_bit"] == 0 and cov["bytes_differing"] == pytest.approx(2 / 6)


# ---------------------------------------------------------------- verdict checks


def trace(outputs: list[bytes], checkpoints, cuts, icounts=None) -> RunTrace:
    t = RunTrace("A", [bytearray(o) for o in outputs], icounts or [[] for _ in outputs])
    t.checkpoints, t.cuts, t.boot_frame = checkpoints, cuts, None
    return t


def lock_of(a: RunTrace, b: RunTrace, **kw) -> LockstepResult:
    res = LockstepResult(a, b, regions=["ram"], uarts=["UART0"], **kw)
    res.checkpoints_compared = len(a.checkpoints)
    return res


def test_output_check_names_the_frame_and_byte():
    cps = [(0, 10), (1, 20), (2, 30)]
    a = trace([b"HELLOxx", b""], cps, [[5, 0], [6, 0], [7, 0]])
    b = trace([b"HELLOxy", b""], cps, [[5, 0], [6, 0], [7, 0]])
    result = check_output(lock_of(a, b))
    assert not result.passed
    assert result.findings[0] == "UART0 byte 6 (during frame 1): 0x78 in run A, 0x79 in run B"
    assert "differs in 1 frames: 1" in result.findings[1]
    same = check_output(lock_of(a, trace([b"HELLOxx", b""], cps, [[5, 0], [6, 0], [7, 0]])))
    assert same.passed and "identical in both runs" in same.detail


def test_timing_check_names_the_byte_and_the_count():
    cps = [(0, 100), (1, 200)]
    a = trace([b"abc"], cps, [[1], [3]], [[50, 150, 160]])
    b = trace([b"abc"], [(0, 100), (1, 203)], [[1], [3]], [[50, 150, 163]])
    result = check_timing(lock_of(a, b))
    assert result.findings == [
        "UART0 byte 2 (during frame 0) written at instruction 160 in run A, 163 in run B (+3)",
        "checkpoint 1 (after 1 frames): instruction 200 in run A, 203 in run B (+3)",
    ]
    assert "instructions not cycles" in result.detail


def test_memory_check_lists_ranges_and_registers():
    a = trace([b""], [(1, 5)], [[0]])
    diff = MemoryDiff(1, [("mps.ssram23", 0x20001000, 0x200010FF, 200)], ["s16"], 200)
    result = check_memory(lock_of(a, a, memory=[diff]))
    assert result.findings == [
        "after frame 0: mps.ssram23 0x20001000..0x200010ff: 200 bytes differ",
        "after frame 0: registers differ: s16",
    ]
    assert check_memory(lock_of(a, a)).passed


def test_differing_offsets_are_grouped_into_ranges():
    idx = np.array([3, 4, 5, 20, 21, 60])
    assert _group(idx) == [(3, 21, 5), (60, 60, 1)]


def capture(decisions: list[bool]) -> bytes:
    hello = Hello(1, 0, 0, 1, "0.1.0", "an386", bytes(32))
    return encode_record(hello) + b"".join(
        encode_record(Decision(i, d)) for i, d in enumerate(decisions)
    )


def test_reference_check_names_the_frame_of_a_wrong_decision():
    ref_a = np.array([True, False, True, False])
    order = np.array([2, 3, 0, 1])
    ok = check_reference(capture([1, 0, 1, 0]), capture([1, 0, 1, 0]), ref_a, ref_a, order)
    assert ok.passed and ok.detail.startswith("decisions equal to the reference on 4/4 frames")
    bad = check_reference(capture([1, 0, 1, 0]), capture([1, 1, 1]), ref_a, ref_a, order)
    assert bad.findings == [
        "run B: position 1 (frame 3): the device says person, the reference no person",
        "run B: no DECISION for position 3 (frame 1)",
    ]


def test_the_protocol_check_holds_the_hello_to_the_manifests_rule():
    from host_tools.noninterference.emulated import _protocol

    manifest = {"proto_version": 1, "build_kind": 0, "policy": 0, "leak_budget_bits": 1,
                "fw_version": "0.1.0", "board": "an386", "model_sha256": "00" * 32,
                "decision_rule": {"kind": "argmax", "person_index": 1}}  # fmt: skip
    said = capture([True, False])  # its HELLO states argmax
    ok = _protocol(said, said, manifest, "00" * 32, 2)
    assert ok.passed, ok.findings
    manifest["decision_rule"] = {"kind": "threshold", "person_index": 1, "threshold": 40}
    lying = _protocol(said, said, manifest, "00" * 32, 2)
    assert not lying.passed and any("rule" in f for f in lying.findings), lying.findings


def test_event_only_policy_wants_the_first_decision_and_each_change():
    ref = np.array([True, True, False, False, True])
    got = encode_record(Hello(1, 0, 1, 1, "0.1.0", "an386", bytes(32)))
    got += b"".join(encode_record(Decision(i, d)) for i, d in ((0, True), (2, False), (4, True)))
    result = check_reference(got, got, ref, ref, np.arange(5), policy_per_frame=False)
    assert result.passed, result.findings


def test_the_statement_says_what_was_compared():
    a = trace([b"x" * 24], [(1, 9)], [[24]])
    res = lock_of(a, a)
    res.byte_events_compared, res.memory_bytes_compared = 24, 3 << 20
    from host_tools.audit import CheckResult

    checks = [CheckResult(n, True, "decisions equal to the reference on 2/2 frames; x") for n in (
        "noninterference_output", "noninterference_timing", "noninterference_memory",
        "reference_decisions")]  # fmt: skip
    text = statement(checks, res, 2)
    assert text == (
        "observable beyond the declared decisions: nothing, over 2 x 2 frames; decisions "
        "equal to the reference on 2/2 frames (compared: 24 output bytes, the instruction "
        "count at 24 byte writes and 1 checkpoints, 3 MiB of memory)"
    )


# ---------------------------------------------------------------- diagnostics


def test_memory_diagnostic_recognises_a_copy_under_any_constant_xor():
    rng = np.random.default_rng(0)
    fa, fb = rng.integers(0, 256, (2, 1, 64, 64, 1), dtype=np.uint8)
    a = trace([b""], [(1, 5)], [[0]])
    kept = [("mps.ssram23", 0x20002000, (fa[0].reshape(-1) ^ 0x5A).tobytes(),
             (fb[0].reshape(-1) ^ 0x5A).tobytes())]  # fmt: skip
    derived = [("mps.ssram1", 0x300000, rng.bytes(512), rng.bytes(512))]
    memory = [MemoryDiff(1, [], [], 4096, kept), MemoryDiff(2, [], [], 512, derived)]
    lines = memory_copies(lock_of(a, a, memory=memory), fa, fb)
    assert lines[0] == (
        "after frame 0: mps.ssram23 from 0x20002000: 4096 bytes of the frame shown at "
        "position 0 (from pixel byte 0) as a copy XORed with 0x5a"
    )
    assert "none is a copy of a frame under a constant XOR" in lines[1]


# ---------------------------------------------------------------- the shipped image


def elf_with(path: Path, symbols: dict[str, bytes]) -> Path:
    """A minimal 32-bit little-endian ELF: one PROGBITS section holding the symbols."""
    text = b"".join(symbols.values())
    strtab = b"\x00" + b"".join(n.encode() + b"\x00" for n in symbols)
    shstr = b"\x00.text\x00.symtab\x00.strtab\x00.shstrtab\x00"
    syms = [bytes(16)]
    off, name_off = 0, 1
    for n, data in symbols.items():
        syms.append(struct.pack("<IIIBBH", name_off, 0x1000 + off, len(data), 0x12, 0, 1))
        off += len(data)
        name_off += len(n) + 1
    symtab = b"".join(syms)
    body = [text, symtab, strtab, shstr]
    offs, pos = [], 52
    for b in body:
        offs.append(pos)
        pos += len(b)
    shoff = pos
    sh = [bytes(40)]
    sh.append(struct.pack("<10I", 1, 1, 6, 0x1000, offs[0], len(text), 0, 0, 4, 0))
    sh.append(struct.pack("<10I", 7, 2, 0, 0, offs[1], len(symtab), 3, 1, 4, 16))
    sh.append(struct.pack("<10I", 15, 3, 0, 0, offs[2], len(strtab), 0, 0, 1, 0))
    sh.append(struct.pack("<10I", 23, 3, 0, 0, offs[3], len(shstr), 0, 0, 1, 0))
    header = (
        b"\x7fELF\x01\x01\x01"
        + bytes(9)
        + struct.pack("<HHIIIIIHHHHHH", 2, 40, 1, 0, 0, shoff, 0, 52, 0, 0, 40, len(sh), 4)
    )
    path.write_bytes(header + b"".join(body) + b"".join(sh))
    return path


def test_the_audited_image_must_equal_the_shipped_one_but_for_declared_objects(tmp_path):
    shipped = elf_with(tmp_path / "prod.elf", {"main": b"\x01\x02", "pk_decide": b"\x03\x04"})
    same = elf_with(tmp_path / "same.elf", {"main": b"\x01\x02", "pk_decide": b"\x03\x04"})
    hil = elf_with(tmp_path / "hil.elf", {"main": b"\x01\x02", "pk_decide": b"\x03\x04",
                                          "camera_bank_begin": b"\x05"})  # fmt: skip
    changed = elf_with(tmp_path / "bad.elf", {"main": b"\x01\x02", "pk_decide": b"\x03\x05"})
    assert check_image_equivalence(same, shipped).passed
    assert not check_image_equivalence(hil, shipped).passed
    assert check_image_equivalence(hil, shipped, ("camera_bank_*",)).passed
    bad = check_image_equivalence(changed, shipped, ("camera_bank_*",))
    assert bad.findings == ["pk_decide: differs between the audited and the shipped image"]
    assert check_image_equivalence(same, None).skipped


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "argmax"},
        {"kind": "threshold", "threshold": 40},
        {"kind": "k_of_n", "threshold": 10, "k": 2, "n": 3},
        {"kind": "hysteresis", "threshold": 60, "threshold_low": -20},
    ],
)
def test_swapping_frames_of_a_class_changes_no_decision_of_any_rule(fields):
    from host_tools.decision_rule import DecisionRule

    rule = DecisionRule(**fields)
    rng = np.random.default_rng(5)
    person = rng.integers(-128, 128, 200)
    outputs = np.stack([-person, person], axis=1).clip(-128, 127).astype(np.int8)
    keys = nf.pairing_keys(outputs, rule)
    for seed in range(5):
        order = nf.rotation_order(keys, seed)
        assert (order != np.arange(200)).all()
        assert np.array_equal(rule.apply(outputs), rule.apply(outputs[order])), seed
    assert set(nf.wanted_classes(rule)) <= set(keys)
