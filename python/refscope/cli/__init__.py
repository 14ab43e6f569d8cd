"""The ``refscope`` command line (also ``python -m refscope``).

``refscope COMMAND [OPTIONS]``: each command is one module of this package, found by
name, so adding a command touches no other file.

Adding a command
----------------
Create ``refscope/cli/NAME.py`` (``NAME`` is the command: lower case, no leading
underscore; modules starting with ``_`` and those in :data:`HELPER_MODULES`, such as
``common``, are helpers, never commands). It defines:

``HELP: str``
    One line, shown next to the name in ``refscope --help``.
``DESCRIPTION: str``
    The paragraph ``refscope NAME --help`` starts with.
``EPILOG: str`` (optional)
    Text after the options in ``refscope NAME --help``; say the exit codes here.
``add_arguments(parser: argparse.ArgumentParser) -> None``
    Adds the command's options to its own parser (``--help`` comes for free).
``main(args: argparse.Namespace) -> int``
    Runs the command and returns its exit code. Raise :class:`UsageError` for a bad
    command line: the command's usage and ``refscope NAME: error: MESSAGE`` are printed
    on stderr and the exit code is :data:`EXIT_USAGE` (2). Check everything that can
    be checked (arguments, output paths) before doing any work.

Import heavy or optional things inside ``main``: every command module is imported for
``refscope --help``. Commands use only refscope's public API (``import refscope`` and
its public submodules, plus this package's helpers in ``refscope.cli.common``);
``make lint`` fails when a module here imports ``refscope._core`` or any other private
refscope module (``scripts/check_import_contract.py``).

Exit codes shared by every command: 0 success, 1 failure, :data:`EXIT_USAGE` (2) usage
error; a command documents any other code in its ``EPILOG`` (``run`` passes the
script's own code through and uses 3 for ``--fail-on-cycles``).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from .common import EXIT_USAGE, UsageError

__all__ = ["EXIT_USAGE", "UsageError", "build_parser", "command_modules", "main"]


# Modules of this package that are shared code for the commands, not commands.
HELPER_MODULES = frozenset({"common", "snapshot_html"})


def command_modules() -> dict[str, ModuleType]:
    """Every command of this package by name, in alphabetical order."""
    names = sorted(
        info.name
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_") and not info.ispkg and info.name not in HELPER_MODULES
    )
    return {name: importlib.import_module(f"{__name__}.{name}") for name in names}


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser, and each command's own parser by name."""
    import refscope

    parser = argparse.ArgumentParser(
        prog="refscope",
        description="Find the reference cycles a Python program creates, and explain them.",
        epilog="Run 'refscope COMMAND --help' for a command's options and exit codes. "
        "Every command exits 0 on success and 2 on a usage error.",
    )
    parser.add_argument("--version", action="version", version=f"refscope {refscope.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    parsers = {}
    for name, module in command_modules().items():
        command_parser = subparsers.add_parser(
            name,
            help=module.HELP,
            description=module.DESCRIPTION,
            epilog=getattr(module, "EPILOG", None),
        )
        command_parser.set_defaults(command_main=module.main)
        module.add_arguments(command_parser)
        parsers[name] = command_parser
    return parser, parsers


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``refscope ARGV...``; returns the exit code (the console script's entry point)."""
    parser, parsers = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        print("\nrefscope: error: a COMMAND is required", file=sys.stderr)
        return EXIT_USAGE
    try:
        return int(args.command_main(args))
    except UsageError as error:
        command_parser = parsers[args.command]
        command_parser.print_usage(sys.stderr)
        print(f"{command_parser.prog}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
