"""`peekless firmware`: build the firmware image for a board from generated model C."""

from __future__ import annotations

import json
from pathlib import Path


def register(subparsers) -> None:
    from host_tools.rule_choice import add_rule_options

    p = subparsers.add_parser("firmware", help="build firmware for a board from generated C")
    p.add_argument("--board", default="an386", help="an386 | host (and the boards the port adds)")
    p.add_argument("--model-dir", type=Path, required=True, help="output of `peekless compile`")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--build", choices=("hil", "production"), default="hil")
    add_rule_options(p)
    p.set_defaults(func=_firmware)


def _firmware(args) -> int:
    from host_tools.firmware_build import build_firmware
    from host_tools.rule_choice import choose_rule
    from peekless.errors import UserError

    plan_path = args.model_dir / "memory_plan.json"
    if not plan_path.is_file():
        raise UserError(f"{args.model_dir}: no memory_plan.json", "give the folder `peekless compile` wrote")
    plan = json.loads(plan_path.read_text())
    rule = choose_rule(args, model_sha256=plan["model_sha256"])
    fw = build_firmware(args.board, args.model_dir, args.out, build=args.build, rule=rule)
    ram = fw.manifest["ram"]
    print(json.dumps({"elf": str(fw.elf), "manifest": str(fw.manifest_path),
                      "flash_bytes": fw.flash_bytes, "ram_bytes": fw.ram_bytes,
                      "stack_high_water_bytes": ram["stack_high_water_bytes"],
                      "ram_total_bytes": ram["total_bytes"],
                      "largest_pixel_buffer": fw.manifest["largest_pixel_buffer"],
                      "decision_rule": rule.describe()}))
    return 0
