"""``python -m imet_core``: the core's command line.

Each subcommand lives in its own module, which provides ``HELP`` (one line),
``add_arguments(parser)`` and ``run(args) -> int`` (the exit code). To add one, append its
module name to ``SUBCOMMANDS``.

Exit codes: 0 success, 1 the command ran and found a failure (e.g. a target not reproduced),
2 bad arguments or unreadable input (one-line message on stderr, never a traceback).
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

SUBCOMMANDS: dict[str, str] = {
    "reproduce": "imet_core.reproduce",
    "report": "imet_core.export.report_cli",
}
"""Subcommand name -> module implementing it."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-parser per entry of ``SUBCOMMANDS``."""
    parser = argparse.ArgumentParser(prog="python -m imet_core", description="IMET Explorer core commands.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse prints its own one-line usage error
        return 0 if exc.code in (0, None) else 2
    try:
        return int(args._run(args))
    except BrokenPipeError:  # output piped into e.g. `head`: stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
