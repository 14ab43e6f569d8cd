"""``refscope snapshot -o FILE SCRIPT [ARGS...]``: run a script and snapshot its heap at exit.

Exit codes: the script's own (0 when it ends normally, its ``sys.exit`` code), 1 if it
raised (the snapshot is still written), 2 usage errors.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import refscope

from .common import UsageError, add_progress_argument
from .run import ScriptEnvironment, execute_script, join_script_threads, load_script_or_report

HELP = "run a Python script and save a snapshot of its whole heap when it ends"
DESCRIPTION = (
    "Run SCRIPT like 'python SCRIPT ARGS...' and, when it ends (normally, by sys.exit or "
    "by an exception), record its whole live heap with refscope.snapshot() while its module "
    "globals are still alive. The snapshot is written to FILE: refscope's compact format, "
    "or a Chrome DevTools heap snapshot when FILE ends in .heapsnapshot. Read it with "
    "'refscope report FILE' or 'refscope diff OLD NEW'."
)
EPILOG = (
    "Options go before SCRIPT; everything after SCRIPT is passed to it. Exit codes: the "
    "script's own (0 when it ends normally, its sys.exit code), 1 if it raised (the "
    "snapshot is still written), 2 for a usage error (the script does not run)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("script", metavar="SCRIPT", help="path of the Python script to run")
    parser.add_argument(
        "script_args", nargs=argparse.REMAINDER, metavar="ARGS", help="arguments for SCRIPT"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        required=True,
        help="where to write the snapshot (.heapsnapshot: Chrome DevTools format; any other "
        "name: refscope's format, read by 'refscope report')",
    )
    add_progress_argument(parser)


def _check_output(path: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(f"-o {path!r}: directory {directory!r} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"-o {path!r}: is a directory")


def main(args: argparse.Namespace) -> int:
    _check_output(args.output)
    code = load_script_or_report(args.script)
    if isinstance(code, int):
        return code
    environment = ScriptEnvironment(args.script, list(args.script_args))
    with environment as namespace:
        exit_code = execute_script(code, namespace)
        join_script_threads()
        del namespace
        started = time.perf_counter()
        snap = refscope.snapshot(progress=args.progress)
        elapsed = time.perf_counter() - started
    try:
        if args.output.endswith(".heapsnapshot"):
            snap.export_heapsnapshot(args.output, progress=args.progress)
        else:
            snap.save(args.output, progress=args.progress)
    except OSError as error:
        print(f"refscope: cannot write the snapshot: {error}", file=sys.stderr)
        return exit_code or 1
    print(
        f"refscope: {snap.object_count:,} objects, {snap.total_size:,} bytes "
        f"(snapshot took {elapsed:.2f} s) written to {args.output}",
        file=sys.stderr,
    )
    return exit_code
