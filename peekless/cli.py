"""The `peekless` command: one entry point, one subcommand group per room.

Each room exposes `register(subparsers)`; a subcommand sets `func(args) -> exit code`."""

from __future__ import annotations

import argparse
import importlib
import sys

from peekless.errors import EXIT_USER_ERROR, UserError

# Rooms that contribute subcommands; a room that is not installed is skipped with a note.
ROOMS = (
    "peekless.demo",
    "training.cli",
    "host_tools.cli_firmware",
    "training.ingest.cli",
    "host_tools.cli_hil",
    "training.pretrained_cli",
    "peekless.evaluate",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peekless",
        description="Privacy-preserving person detection on microcontrollers: train, compile, "
        "run on Cortex-M, and prove that no image data leaves the device.",
    )
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of a user error instead of one line"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in ROOMS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # that room is not part of this installation
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        if args.debug:
            raise
        print(f"peekless {args.command}: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
