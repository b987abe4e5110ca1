"""The `peekless` command: one entry point, one subcommand group per room.

Each room exposes `register(subparsers)`; a subcommand sets `func(args) -> exit code`.

User mistakes end in one line on stderr and exit status 2, never a traceback (unless
``--debug``): a ``UserError`` from any stage; a missing or unreadable file or folder the
user named (an ``OSError`` that carries a file name); and a mistyped command line (the
parser's own message, on one line, with a pointer to ``--help``)."""

from __future__ import annotations

import argparse
import importlib
import sys

from peekless.errors import EXIT_USER_ERROR, UserError, path_error_message

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


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (subcommand parsers inherit the class)."""

    def parse_known_args(self, args=None, namespace=None):
        """Also record the innermost command's name (``peekless dataset forget``), to
        start the one-line error with it."""
        namespace, extras = super().parse_known_args(args, namespace)
        if getattr(namespace, "command_prog", None) is None:
            namespace.command_prog = self.prog
        return namespace, extras

    def error(self, message: str):  # argparse calls this for a bad command line
        self.exit(EXIT_USER_ERROR, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
        print(f"{args.command_prog}: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:
        message = path_error_message(exc)
        if args.debug or message is None:
            raise
        print(f"{args.command_prog}: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
