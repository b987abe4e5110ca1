"""`peekless audit | emulate | monitor | flash`: thin wrappers over host_tools' public API.

    peekless audit --elf build-prod/peekless.elf --manifest build-prod/build_manifest.json \
        --model model.tflite --json audit.json --junit audit.xml
    peekless audit --port /dev/ttyACM0 --rig rig.json --elf build-hil/peekless.elf \
        --model model.tflite --production-elf build-prod/peekless.elf
    peekless audit --capture capture.bin --bank frames.pkfb --manifest build_manifest.json
    peekless emulate --elf build/peekless.elf --canaries 5
    peekless monitor --port socket://127.0.0.1:4321
    peekless flash --rig rig.json --elf build/peekless.elf [--dry-run]

Exit codes: 0 success (audit: no check failed), 1 a check failed or the device misbehaved,
2 bad usage or configuration, 3 (audit --strict) a check was skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INCOMPLETE = 0, 1, 2, 3


def register(subparsers) -> None:
    _register_audit(subparsers)
    _register_emulate(subparsers)
    _register_monitor(subparsers)
    _register_flash(subparsers)


# --------------------------------------------------------------------------- helpers


def _shape(text: str) -> tuple[int, int, int]:
    try:
        parts = tuple(int(x) for x in text.lower().split("x"))
    except ValueError:
        parts = ()
    if len(parts) == 2:
        parts = (*parts, 1)
    if len(parts) != 3 or min(parts) < 1 or parts[2] not in (1, 3):
        raise argparse.ArgumentTypeError(f"want HxW or HxWxC with C 1 or 3, got {text!r}")
    return parts


def _load_manifest(path: Path | None) -> dict | None:
    if path is None:
        return None
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: want a JSON object")  # noqa: TRY004 (a file, not a type)
    return data


def _err(message: str) -> None:
    print(f"peekless: {message}", file=sys.stderr)


def describe(item) -> str:
    """One line for a record or garbage span (monitor/emulate output)."""
    from .protocol import Bye, Decision, Garbage, Hello, Stats

    if isinstance(item, Hello):
        build = {0: "production", 1: "hil"}.get(item.build_kind, item.build_kind)
        policy = {0: "per-frame", 1: "event-only"}.get(item.policy, item.policy)
        return (
            f"HELLO fw={item.fw_version} board={item.board} build={build} "
            f"policy={policy} budget={item.leak_budget_bits} bit/frame "
            f"model={item.model_sha256.hex()[:16]}..."
        )
    if isinstance(item, Decision):
        return f"DECISION seq={item.seq} person={int(item.person)}"
    if isinstance(item, Stats):
        return (
            f"STATS frames={item.frames} insn min={item.insn_min} max={item.insn_max} "
            f"total={item.insn_total} (emulator instruction counts, not cycles)"
        )
    if isinstance(item, Bye):
        return f"BYE frames={item.frames}"
    if isinstance(item, Garbage):
        return f"GARBAGE offset={item.offset} bytes={item.length}: {item.reason}"
    return repr(item)


# --------------------------------------------------------------------------- audit


def _camera(text: str) -> tuple[int, int, int]:
    """``WxH:FORMAT`` (e.g. ``320x240:rgb565``) -> (width, height, format code)."""
    from .frame_bank import format_code

    try:
        size, fmt = text.lower().split(":")
        w, h = (int(x) for x in size.split("x"))
        return (w, h, format_code(fmt))
    except ValueError as e:
        raise argparse.ArgumentTypeError(
            f"want WxH:FORMAT (e.g. 320x240:rgb565), got {text!r}: {e}"
        ) from None


def _register_audit(subparsers) -> None:
    from .noninterference.emulated import DEFAULT_FRAMES

    p = subparsers.add_parser(
        "audit",
        help="privacy audit: prove that nothing but the declared decisions leaves a device",
        description="Run the image twice on frames that differ in pixels but have the same "
        "reference decisions, and require everything an observer can see (every byte on every "
        "UART, when it leaves, all writable memory after every frame) to be identical between "
        "the runs, and every decision to equal the reference (docs/HIL_AUDIT.md).",
    )
    t = p.add_argument_group("target (one of)")
    t.add_argument(
        "--elf",
        type=Path,
        help="the image to audit on the emulator: the production ELF that ships (with --port: "
        "the HIL image on the board, for RAM read-back)",
    )
    t.add_argument(
        "--port", help="pyserial URL of a real device: /dev/ttyACM0, socket://, rfc2217://"
    )
    t.add_argument(
        "--capture",
        type=Path,
        help="run only the content diagnostics on a saved capture (needs --bank)",
    )
    p.add_argument("--board", default="an386", help="emulated board (default an386)")
    p.add_argument(
        "--rig",
        type=Path,
        help="rig description (JSON/YAML) for a real board: "
        "commands to load the frame bank, reset, and a gdbserver address",
    )
    p.add_argument("--manifest", type=Path, help="build_manifest.json the HELLO must match")
    p.add_argument(
        "--model",
        type=Path,
        help="the .tflite the firmware was built from: the reference decisions (required on "
        "the emulator; its sha256 must be the one the device states)",
    )
    p.add_argument(
        "--frames",
        type=int,
        default=DEFAULT_FRAMES,
        help=f"canary frames per run (default {DEFAULT_FRAMES})",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--camera",
        type=_camera,
        help="frames shown to a production image, WxH:FORMAT (default: the manifest's camera, "
        "else 320x240:rgb565)",
    )
    p.add_argument(
        "--shape", type=_shape, help="model input HxWxC (default: from the manifest or the ELF)"
    )
    p.add_argument(
        "--bank",
        type=Path,
        help="with --capture: the frames (PKFB bank) the device was shown",
    )
    p.add_argument("--window", type=int, default=8, help="--capture: window in bytes (default 8)")
    p.add_argument(
        "--production-elf",
        type=Path,
        help="real boards: the shipped ELF, which the audited image must equal but for "
        "--declared objects",
    )
    p.add_argument(
        "--declared",
        action="append",
        default=[],
        metavar="SYMBOL",
        help="real boards: a test-only object the audited image may add or change (a name, or "
        "a prefix ending in *); repeat",
    )
    p.add_argument(
        "--timing-bound-ms",
        type=float,
        help="real boards: tolerance of host timestamps between the runs (default 5 ms)",
    )
    p.add_argument(
        "--timeout", type=float, help="seconds per frame (emulator) or per run (real board)"
    )
    p.add_argument("--json", type=Path, help="write the report as JSON here")
    p.add_argument("--junit", type=Path, help="write the report as JUnit XML here")
    p.add_argument("--strict", action="store_true", help="a skipped check fails (exit 3)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, summary only")
    p.set_defaults(func=cmd_audit)


def cmd_audit(args) -> int:
    from peekless.errors import UserError

    from .audit import audit_capture, audit_cli_exit_code
    from .frame_bank import read_frame_bank
    from .hil_audit import (
        AuditConfig,
        AuditError,
        EmulatorTarget,
        Rig,
        RigError,
        SerialTarget,
        hello_manifest,
        run_audit,
        write_outputs,
    )

    targets = [x for x in (args.port, args.capture) if x]
    if len(targets) > 1 or not (targets or args.elf):
        raise UserError("give --elf (emulator), --port URL (real device) or --capture FILE")
    try:
        manifest = _load_manifest(args.manifest)
        if args.model is not None and not args.model.is_file():
            raise UserError(f"--model {args.model}: no such file")
        if args.capture:
            if args.bank is None:
                raise UserError("--capture: give --bank with the frames the device was shown")
            bank = read_frame_bank(args.bank)
            report = audit_capture(
                args.capture.read_bytes(), bank, hello_manifest(manifest), window=args.window
            )
        else:
            if args.port:
                rig = Rig.load(args.rig) if args.rig else None
                target = SerialTarget(args.port, rig=rig, elf=args.elf)
            else:
                target = EmulatorTarget(args.elf, board=args.board)
                if args.model is None:
                    raise UserError(
                        "--model: give the .tflite the firmware was built from (the reference "
                        "decisions come from it)"
                    )
            config = AuditConfig(
                frames=args.frames,
                seed=args.seed,
                model=args.model,
                manifest=manifest,
                camera=args.camera,
                shape=args.shape,
                timeout_s=args.timeout,
                progress=not args.quiet and sys.stderr.isatty(),
                production_elf=args.production_elf,
                declared_objects=tuple(args.declared),
                **({"timing_bound_s": args.timing_bound_ms / 1e3} if args.timing_bound_ms else {}),
            )
            report = run_audit(target, config)
    except (AuditError, RigError, ValueError, OSError) as e:
        raise UserError(str(e)) from e
    write_outputs(report, args.json, args.junit)
    print(report.summary(findings=not args.quiet))
    meta = report.meta
    if meta.get("statement"):
        print(meta["statement"])
    if meta.get("frames_per_minute"):
        print(
            f"throughput: {meta['frames_per_minute']} frames/minute "
            f"({report.frames} frames in {meta['wall_s']} s, {meta['target']})"
        )
    for path in (args.json, args.junit):
        if path:
            print(f"wrote {path}")
    return audit_cli_exit_code(report, strict=args.strict)


# --------------------------------------------------------------------------- emulate


def _register_emulate(subparsers) -> None:
    p = subparsers.add_parser(
        "emulate", help="run a HIL ELF on the emulator and print what it sends"
    )
    p.add_argument("--elf", type=Path, required=True)
    p.add_argument("--board", default="an386")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--bank", type=Path, help="frame bank (PKFB) to show the device")
    src.add_argument("--canaries", type=int, default=5, help="or N canary frames (default 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--shape", type=_shape, help="canary shape HxWxC (default: from the ELF)")
    p.add_argument("--capture-out", type=Path, help="save every received byte here")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds (default 60)")
    p.set_defaults(func=cmd_emulate)


def cmd_emulate(args) -> int:
    from .canaries import generate_canaries
    from .frame_bank import read_frame_bank
    from .hil_audit import AuditError, EmulatorTarget, frame_shape_from_elf
    from .protocol import parse_capture

    try:
        target = EmulatorTarget(args.elf, board=args.board)
        if args.bank:
            frames = read_frame_bank(args.bank)
        else:
            shape = args.shape or frame_shape_from_elf(args.elf)
            if shape is None:
                _err("emulate: give --shape HxWxC (not found in the ELF)")
                return EXIT_USAGE
            frames = generate_canaries(args.canaries, *shape, seed=args.seed).frames
        run = target.run(frames, timeout_s=args.timeout)
    except (AuditError, ValueError, OSError) as e:
        _err(f"emulate: {e}")
        return EXIT_USAGE
    for item in parse_capture(run.capture):  # records and garbage, in stream order
        print(describe(item))
    if args.capture_out:
        args.capture_out.write_bytes(run.capture)
        print(f"wrote {len(run.capture)} bytes to {args.capture_out}")
    print(
        f"{run.decisions} DECISIONs, {len(run.capture)} bytes, QEMU exit {run.exit_code}, "
        f"{run.wall_s:.2f} s"
    )
    if run.error:
        _err(f"emulate: {run.error}")
        return EXIT_FAIL
    return EXIT_OK if run.exit_code == 0 else EXIT_FAIL


# --------------------------------------------------------------------------- monitor


def _register_monitor(subparsers) -> None:
    p = subparsers.add_parser("monitor", help="print the records a device sends (any pyserial URL)")
    p.add_argument(
        "--port",
        required=True,
        help="/dev/ttyACM0, socket://HOST:PORT, rfc2217://HOST:PORT, loop://",
    )
    p.add_argument("--baudrate", type=int, default=115200)
    p.add_argument(
        "--timeout",
        type=float,
        default=0.0,
        help="stop after this many seconds (0: until BYE, the link closes, or Ctrl-C)",
    )
    p.add_argument(
        "--idle", type=float, default=0.0, help="stop after this many silent seconds (0: never)"
    )
    p.add_argument("--capture-out", type=Path, help="save every received byte here")
    p.set_defaults(func=cmd_monitor)


def cmd_monitor(args) -> int:
    import serial

    from .protocol import Bye, Hello
    from .session import DeviceReset, LinkClosed, LinkTimeout, connect

    try:
        dev = connect(args.port, baudrate=args.baudrate)
    except (serial.SerialException, ValueError, OSError) as e:
        _err(f"monitor: cannot open {args.port}: {e}")
        return EXIT_USAGE
    start = time.monotonic()
    last = start
    shown = 0  # spans printed so far: records and garbage, in stream order
    hellos = 0
    status = EXIT_OK
    done = False
    with dev:
        try:
            while not done:
                now = time.monotonic()
                if args.timeout and now - start >= args.timeout:
                    break
                if args.idle and now - last >= args.idle:
                    break
                try:
                    dev.read_record(0.5)
                except (LinkTimeout, DeviceReset):
                    pass  # a reset is shown from the spans below
                for span in dev.spans[shown:]:
                    item = span.item
                    if isinstance(item, Hello):
                        hellos += 1
                        if hellos > 1:
                            print(f"-- device reset (new HELLO at offset {span.offset}) --")
                    print(describe(item), flush=True)
                    last = time.monotonic()
                    done = done or isinstance(item, Bye)
                shown = len(dev.spans)
        except LinkClosed as e:
            for span in dev.spans[shown:]:
                print(describe(span.item))
            print(f"-- link closed: {e} --")
        except KeyboardInterrupt:
            print("-- interrupted --")
            status = 130
    if args.capture_out:
        args.capture_out.write_bytes(dev.capture)
    print(f"{len(dev.records)} records, {len(dev.garbage)} garbage spans, {len(dev.capture)} bytes")
    return status


# --------------------------------------------------------------------------- flash


def _register_flash(subparsers) -> None:
    p = subparsers.add_parser(
        "flash", help="flash a real board with the rig's own flasher (pyocd, openocd, esptool...)"
    )
    p.add_argument("--rig", type=Path, required=True, help="rig description (JSON/YAML)")
    p.add_argument("--elf", type=Path, required=True)
    p.add_argument(
        "--bank", type=Path, help="also load this frame bank (the rig's load_bank command)"
    )
    p.add_argument("--reset", action="store_true", help="then run the rig's reset command")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    p.set_defaults(func=cmd_flash)


def cmd_flash(args) -> int:
    import shlex

    from .hil_audit import Rig, RigError

    try:
        rig = Rig.load(args.rig)
        steps = [("flash", {"elf": args.elf.resolve()})]
        if args.bank:
            steps.append(("load_bank", {"bank": args.bank.resolve()}))
        if args.reset:
            steps.append(("reset", {}))
        for name, values in steps:
            argv = rig.run(name, dry_run=args.dry_run, **values)
            print(("would run: " if args.dry_run else "ran: ") + shlex.join(argv))
    except RigError as e:
        _err(f"flash: {e}")
        return EXIT_FAIL
    except (ValueError, OSError) as e:
        _err(f"flash: {e}")
        return EXIT_USAGE
    return EXIT_OK
