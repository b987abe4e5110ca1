"""`peekless audit | emulate | monitor | flash` (host_tools/cli_hil.py), run in-process."""

from __future__ import annotations

import json
import socket
import sys
import threading
import time

import pytest
from hil_fixtures import HAVE_TOOLS, build_tiny_model, build_variant, cache_root

from host_tools.canaries import generate_canaries
from host_tools.frame_bank import write_frame_bank
from host_tools.protocol import Bye, Decision, Hello, Stats, encode_record
from peekless.cli import main

HELLO = Hello(1, 1, 0, 1, "0.1.0", "an386", bytes(range(32)))
MANIFEST = {"board": "an386", "fw_version": "0.1.0", "model_sha256": bytes(range(32)).hex()}


def run_bytes(n: int) -> bytes:
    recs = [HELLO] + [Decision(i, i % 2 == 0) for i in range(n)] + [Stats(n, 1, 2, 3), Bye(n)]
    return b"".join(encode_record(r) for r in recs)


@pytest.fixture
def offline(tmp_path):
    frames = generate_canaries(4, 16, 16, 1, seed=1).frames
    bank = write_frame_bank(tmp_path / "bank.pkfb", frames)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(MANIFEST))
    return tmp_path, frames, bank, manifest


def test_offline_audit_of_a_clean_capture(offline, capsys):
    tmp, _, bank, manifest = offline
    (tmp / "cap.bin").write_bytes(run_bytes(4))
    argv = ["audit", "--capture", str(tmp / "cap.bin"), "--bank", str(bank)]
    argv += ["--manifest", str(manifest), "--json", str(tmp / "a.json")]
    argv += ["--junit", str(tmp / "a.xml")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("privacy audit PASS: 6/6 checks passed")
    assert json.loads((tmp / "a.json").read_text())["passed"] is True
    assert "<testsuites" in (tmp / "a.xml").read_text()


def test_offline_audit_of_a_leaky_capture_exits_1(offline, capsys):
    tmp, frames, bank, _ = offline
    (tmp / "cap.bin").write_bytes(run_bytes(4) + frames[2].tobytes().hex().encode())
    assert main(["audit", "--capture", str(tmp / "cap.bin"), "--bank", str(bank)]) == 1
    out = capsys.readouterr().out
    assert "FAIL canary_windows" in out and "inside the hex-decoded run" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["audit"], "give --elf (emulator), --port URL (real device) or --capture FILE"),
        (["audit", "--capture", "x.bin"], "give --bank"),
        (["audit", "--elf", "/nonexistent.elf"], "no such ELF"),
    ],
)
def test_audit_usage_errors_exit_2(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_flash_runs_the_rig_commands(tmp_path, capsys):
    log = tmp_path / "log.txt"
    py = sys.executable
    rig = {
        "name": "bench",
        "bank_addr": "0x20040000",
        "commands": {
            "flash": f"{py} -c \"open('{log}', 'a').write('flash {{elf}}\\n')\"",
            "load_bank": f"{py} -c \"open('{log}', 'a').write('bank {{bank}} {{bank_addr}}\\n')\"",
            "reset": f"{py} -c \"open('{log}', 'a').write('reset\\n')\"",
        },
    }
    (tmp_path / "rig.json").write_text(json.dumps(rig))
    elf, bank = tmp_path / "fw.elf", tmp_path / "b.pkfb"
    argv = ["flash", "--rig", str(tmp_path / "rig.json"), "--elf", str(elf), "--bank", str(bank)]
    assert main([*argv, "--reset", "--dry-run"]) == 0
    assert capsys.readouterr().out.count("would run: ") == 3 and not log.exists()
    assert main([*argv, "--reset"]) == 0
    assert log.read_text().splitlines() == [f"flash {elf}", f"bank {bank} 0x20040000", "reset"]


def test_flash_reports_a_failing_command(tmp_path, capsys):
    rig = {"commands": {"flash": f"{sys.executable} -c \"raise SystemExit('no probe')\""}}
    (tmp_path / "rig.json").write_text(json.dumps(rig))
    assert main(["flash", "--rig", str(tmp_path / "rig.json"), "--elf", "x.elf"]) == 1
    err = capsys.readouterr().err
    assert "rig command 'flash' failed (1)" in err and "no probe" in err


def test_flash_without_that_command_names_what_the_rig_has(tmp_path, capsys):
    (tmp_path / "rig.json").write_text(json.dumps({"commands": {"reset": "true"}}))
    assert main(["flash", "--rig", str(tmp_path / "rig.json"), "--elf", "x.elf"]) == 1
    assert "has no 'flash' command (has: reset)" in capsys.readouterr().err


def serve_once(payload: bytes) -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)

    def serve() -> None:
        conn, _ = sock.accept()
        with conn:
            time.sleep(0.1)
            conn.sendall(payload)
        sock.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"socket://127.0.0.1:{sock.getsockname()[1]}"


def test_monitor_prints_records_and_garbage_until_bye(tmp_path, capsys):
    url = serve_once(b"boot\x00" + run_bytes(2))
    assert main(["monitor", "--port", url, "--capture-out", str(tmp_path / "c.bin")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("GARBAGE offset=0 bytes=5")  # in stream order
    assert lines[1].startswith("HELLO fw=0.1.0 board=an386 build=hil policy=per-frame")
    assert lines[2:6] == [
        "DECISION seq=0 person=1",
        "DECISION seq=1 person=0",
        "STATS frames=2 insn min=1 max=2 total=3 (emulator instruction counts, not cycles)",
        "BYE frames=2",
    ]
    assert (tmp_path / "c.bin").read_bytes() == b"boot\x00" + run_bytes(2)


def test_monitor_reports_a_closed_link_and_a_bad_port(capsys):
    url = serve_once(run_bytes(3)[:80])
    assert main(["monitor", "--port", url, "--timeout", "10"]) == 0
    assert "-- link closed:" in capsys.readouterr().out
    assert main(["monitor", "--port", "/dev/nonexistent-tty"]) == 2


@pytest.fixture(scope="module")
def clean_elf(tmp_path_factory):
    if not HAVE_TOOLS:
        pytest.skip("arm-none-eabi-gcc/qemu-system-arm missing")
    root = cache_root(tmp_path_factory)
    return build_variant(root, build_tiny_model(root), None)


@pytest.mark.emulator
def test_emulate_prints_what_the_device_sends(clean_elf, capsys):
    assert main(["emulate", "--elf", str(clean_elf.elf), "--canaries", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("HELLO fw=") and out[1].startswith("DECISION seq=0 person=")
    from host_tools.protocol import FRAME_SIZES, TYPE_BYE, TYPE_DECISION, TYPE_HELLO, TYPE_STATS

    size = FRAME_SIZES[TYPE_HELLO] + 3 * FRAME_SIZES[TYPE_DECISION] + FRAME_SIZES[TYPE_STATS]
    assert out[-1].startswith(f"3 DECISIONs, {size + FRAME_SIZES[TYPE_BYE]} bytes, QEMU exit 0")


@pytest.mark.emulator
def test_audit_on_the_emulator(clean_elf, tmp_path, capsys):
    argv = ["audit", "--elf", str(clean_elf.elf), "--manifest", str(clean_elf.manifest_path)]
    argv += ["--frames", "8", "--quiet", "--json", str(tmp_path / "a.json")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "privacy audit PASS: 8/8 checks passed" in out and "frames/minute" in out
    assert main([*argv, "--strict"]) == 3  # elf_allowlist was skipped


def test_rig_description_is_checked_and_formatted(tmp_path):
    from host_tools.hil_audit import Rig, RigError

    rig = Rig.from_dict(
        {
            "name": "desk",
            "port": "/dev/ttyACM0",
            "bank_addr": "0x20040000",
            "bank_bytes": 65536,
            "ram": [["0x20000000", "0x50000"]],
            "gdb": "127.0.0.1:3333",
            "commands": {"load_bank": "pyocd load --base-address {bank_addr} '{bank}'"},
        }
    )
    assert rig.ram == ((0x20000000, 0x50000),) and rig.bank_bytes == 65536
    argv = rig.command("load_bank", bank=tmp_path / "a b.pkfb")
    assert argv == ["pyocd", "load", "--base-address", "0x20040000", str(tmp_path / "a b.pkfb")]
    with pytest.raises(RigError, match="unknown keys"):
        Rig.from_dict({"comands": {}})
    with pytest.raises(RigError, match="unknown placeholder 'elf'"):
        Rig.from_dict({"commands": {"flash": "x {elf}"}}).command("flash")
    (tmp_path / "rig.yaml").write_text("name: desk\n")
    try:
        import yaml  # noqa: F401
    except ImportError:
        with pytest.raises(RigError, match="YAML rig files need PyYAML"):
            Rig.load(tmp_path / "rig.yaml")
    else:
        assert Rig.load(tmp_path / "rig.yaml").name == "desk"
