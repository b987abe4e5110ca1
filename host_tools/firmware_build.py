"""Build the firmware for a board from generated model C, and write its build manifest.

The build manifest is what the device will claim in its HELLO and what the audit holds it
to: model hash, board, build kind, policy, output schema and leakage budget per frame;
and what the image holds in RAM: static RAM, the stack's high-water mark measured on the
emulator, their total, and its pixel buffers (host_tools/ram_usage.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from host_tools.decision_rule import DecisionRule
from host_tools.emulator import section_sizes
from host_tools.protocol import PAYLOAD_SIZES, RECORD_NAMES

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"
FW_VERSION_RE = re.compile(r'#define\s+PK_FW_VERSION\s+"([^"]+)"')
POLICIES = {"per-frame": 0, "event": 1}
HIL_ONLY_RECORDS = {"STATS", "BYE"}


@dataclass
class FirmwareBuild:
    elf: Path  # the ELF (or host executable for board "host")
    manifest: dict
    manifest_path: Path

    @property
    def flash_bytes(self) -> int:
        return int(self.manifest["flash_bytes"])

    @property
    def ram_bytes(self) -> int:
        """Static RAM: .data + .bss."""
        return int(self.manifest["ram_bytes"])

    @property
    def stack_high_water_bytes(self) -> int | None:
        """The deepest stack measured on the emulator (None: not measured)."""
        return self.manifest["ram"]["stack_high_water_bytes"]


def firmware_version() -> str:
    text = (FIRMWARE / "app" / "pk_config.h").read_text()
    match = FW_VERSION_RE.search(text)
    if not match:
        raise RuntimeError("firmware/app/pk_config.h: PK_FW_VERSION not found")
    return match.group(1)


def memory_footprint(elf: Path) -> tuple[int, int]:
    """(flash, static RAM) bytes: code, read-only data and initialised data in flash;
    initialised and zeroed data in RAM. The stack region is reported apart by the map."""
    sizes = section_sizes(elf)
    flash = sum(v for k, v in sizes.items() if k in (".vectors", ".text", ".rodata", ".data",
                                                     ".ARM.exidx", ".init_array"))
    ram = sum(v for k, v in sizes.items() if k in (".data", ".bss"))
    return flash, ram


def build_firmware(board: str, model_dir: Path, out_dir: Path, build: str = "hil",
                   leak: str | None = None, policy: str = "per-frame",
                   extra: tuple[str, ...] = (), measure_stack: bool | None = None,
                   rule: DecisionRule | None = None) -> FirmwareBuild:
    """Run firmware/Makefile and write out_dir/build_manifest.json beside the image.

    ``measure_stack``: run the image on the emulator to measure its stack's high-water
    mark (a second or two; default: on for the emulated boards, off for the host and
    the TEST ONLY leaky variants). ``rule``: the decision rule to build in (default
    argmax), recorded in the manifest."""
    model_dir, out_dir = Path(model_dir).resolve(), Path(out_dir).resolve()
    rule = rule or DecisionRule()
    io = model_io_shape(model_dir / "peekless_model.h")
    if rule.person_index != io["person_index"]:
        raise ValueError(f"decision rule person_index {rule.person_index}, but the model's "
                         f"person output is {io['person_index']}")  # fmt: skip
    cmd = ["make", "-C", str(FIRMWARE), f"-j{os.cpu_count() or 1}", f"BOARD={board}",
           f"BUILD={build}", f"MODEL_DIR={model_dir}", f"OUT={out_dir}", *rule.make_vars(),
           *extra]
    if leak:
        cmd.append(f"LEAK={leak}")
    if policy != "per-frame":
        cmd.append(f"POLICY={policy}")
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"firmware build failed ({' '.join(cmd[3:])}):\n{proc.stdout}{proc.stderr}")
    elf = out_dir / ("peekless" if board == "host" else "peekless.elf")
    flash, ram = memory_footprint(elf) if board != "host" else (0, 0)
    ram_info = ram_section(elf, board, model_dir,
                           measure_stack if measure_stack is not None else not leak)
    plan = json.loads((model_dir / "memory_plan.json").read_text())
    records = {name: size for code, size in PAYLOAD_SIZES.items()
               if (name := RECORD_NAMES[code]) and (build == "hil" or name not in HIL_ONLY_RECORDS)}
    manifest = {
        "fw_version": firmware_version(),
        "board": board,
        "build_kind": build,
        "leak_variant": leak,
        "policy": policy,
        "leak_budget_bits": 1,
        "decision_rule": rule.to_manifest(),
        "model_sha256": plan["model_sha256"],
        "arena_bytes": plan["arena_bytes"],
        **{k: v for k, v in io.items() if k != "person_index"},
        "output_schema": {"framing": "COBS + CRC-32, see docs/PROTOCOL.md",
                          "record_payload_bytes": records},
        "elf": elf.name,
        "elf_sha256": hashlib.sha256(elf.read_bytes()).hexdigest(),
        "flash_bytes": flash,
        "ram_bytes": ram,
        "ram": ram_info,
        "largest_pixel_buffer": ram_info.get("largest_pixel_buffer"),
    }
    path = out_dir / "build_manifest.json"
    path.write_text(json.dumps(manifest, indent=1))
    return FirmwareBuild(elf, manifest, path)


def ram_section(elf: Path, board: str, model_dir: Path, measure: bool) -> dict:
    """The manifest's ``ram``: static RAM, stack (reserved, measured high-water mark),
    their total, and the pixel buffers; the host build has no figures."""
    if board == "host":
        return {"static_bytes": None, "stack_high_water_bytes": None, "total_bytes": None}
    from host_tools.ram_usage import measure_ram, model_input_bytes, ram_report

    info = ram_report(elf, board, model_dir)
    info.update(stack_high_water_bytes=None, total_bytes=None, measured_on=None)
    if measure:
        row, _ = model_input_bytes(model_dir)
        m = measure_ram(elf, board, input_row_bytes=row)
        info["stack_high_water_bytes"] = m.high_water_bytes
        info["total_bytes"] = info["static_bytes"] + m.high_water_bytes
        info["measured_on"] = (f"QEMU {board}: a 320x240 frame of each camera format "
                               "(instructions executed, deepest stack read back at every "
                               "pk_hal_stack_scrub)")
        if m.input_extent_bytes is not None:
            info["pixel_buffers"]["peekless_model_arena[input]"] = m.input_extent_bytes
            name, size = max(info["pixel_buffers"].items(), key=lambda kv: kv[1])
            info["largest_pixel_buffer"] = {"name": name, "bytes": size}
    return info


def model_io_shape(header: Path) -> dict:
    """Input shape [H, W, C] and output size from the generated header, so that the audit can
    tell which frames the device was fed without the model itself."""
    defines = dict(re.findall(r"#define PEEKLESS_MODEL_(\w+) (\d+)", header.read_text()))
    try:
        return {"input_shape": [int(defines[k]) for k in ("INPUT_H", "INPUT_W", "INPUT_C")],
                "output_bytes": int(defines["OUTPUT_BYTES"]),
                "person_index": int(defines.get("PERSON_INDEX", 1))}
    except KeyError as e:
        raise ValueError(f"{header}: no PEEKLESS_MODEL_{e.args[0]} define") from None


def hello_expectations(manifest: dict) -> dict:
    """The part of a build manifest that the device's HELLO must repeat, in the audit's terms."""
    return {
        "build_kind": 1 if manifest["build_kind"] == "hil" else 0,
        "policy": POLICIES[manifest["policy"]],
        "leak_budget_bits": manifest["leak_budget_bits"],
        "fw_version": manifest["fw_version"],
        "board": manifest["board"],
        "model_sha256": manifest["model_sha256"],
        "decision_rule": DecisionRule.from_manifest(manifest).to_manifest(),
    }
