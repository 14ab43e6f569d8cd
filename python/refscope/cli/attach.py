"""``refscope attach PID``: cycles, a Monitor or a census from a running process."""

from __future__ import annotations

import argparse
import sys

import refscope
import refscope.attach

from .common import (
    EXIT_FAILURE,
    EXIT_OK,
    UsageError,
    check_writable,
    output_format,
    plural,
    write_output,
)

EXIT_CODES = {
    refscope.attach.REASON_NO_SUCH_PROCESS: 4,
    refscope.attach.REASON_NOT_PYTHON: 5,
    refscope.attach.REASON_PERMISSION: 6,
    refscope.attach.REASON_NO_DEBUGGER: 7,
    refscope.attach.REASON_REFSCOPE_MISSING: 8,
    refscope.attach.REASON_VERSION_MISMATCH: 8,
    refscope.attach.REASON_TIMEOUT: 9,
}

HELP = "run refscope inside a running Python process (cycles, a Monitor, a census, a snapshot)"
DESCRIPTION = (
    "Attach to the running CPython process PID and run refscope inside it, without a "
    "restart: --collect (the default) runs a full collection and reports the cycles it "
    "freed, --monitor SECONDS samples the collections gc runs for that long, --top counts "
    "the objects gc tracks by type, --snapshot -o FILE writes refscope.snapshot() of its "
    "heap. The target's main thread runs a short bootstrap at its "
    "next safe point (sys.remote_exec on CPython 3.14+, else a pending call queued by lldb "
    "or gdb, which detaches at once); the work runs in a thread of the target, which keeps "
    "serving, and gc's state is restored. refscope of the same version must be installed "
    "in the target's environment. The report goes to stdout, or to the file given with -o."
)
EPILOG = (
    "Exit codes: 0 success, 1 the work failed in the target, 2 usage error, 4 no such "
    "process, 5 not a CPython process, 6 permission denied (ptrace), 7 no usable debugger, "
    "8 refscope missing (or another version) in the target, 9 the target did not reach a "
    "safe point within --timeout (nothing ran in it). See docs/attach.md."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pid", metavar="PID", type=int, help="the process id of the target")
    actions = parser.add_mutually_exclusive_group()
    actions.add_argument(
        "--collect",
        dest="action",
        action="store_const",
        const="collect",
        help="run a full gc collection in the target and report the cycles it found (default)",
    )
    actions.add_argument(
        "--snapshot",
        dest="action",
        action="store_const",
        const="snapshot",
        help="write refscope.snapshot() of the target's heap to -o FILE (refscope.load() "
        "reads it; FILE.heapsnapshot: Chrome DevTools' format)",
    )
    actions.add_argument(
        "--monitor",
        dest="monitor_seconds",
        type=float,
        metavar="SECONDS",
        help="sample every collection gc runs in the target for SECONDS, then report them",
    )
    actions.add_argument(
        "--top",
        dest="action",
        action="store_const",
        const="top",
        help="count the objects gc tracks in the target by type, most numerous first",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="write the report to PATH instead of stdout: .txt, .json or (--collect) .html",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds for the target's main thread to reach a safe point once the call is "
        "queued; past them nothing has run in it and refscope gives up (default: 30)",
    )
    parser.add_argument(
        "--debugger",
        choices=("auto", "lldb", "gdb"),
        default="auto",
        help="how to reach a CPython 3.10-3.13 target (default auto: lldb, else gdb; "
        "sys.remote_exec on 3.14+)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=25,
        metavar="N",
        help="types listed by --top, 0 for all (default: 25)",
    )
    parser.add_argument(
        "--max-objects",
        type=int,
        default=12,
        metavar="N",
        help="objects shown per cycle in the text report, 0 for all (default: 12)",
    )
    parser.add_argument(
        "--no-frame-locals",
        action="store_true",
        help="leave frames' local variables out of the report (they may hold secrets)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="say on stderr what refscope does, with the debugger's output",
    )


def _action(args: argparse.Namespace) -> str:
    if args.monitor_seconds is not None:
        if not args.monitor_seconds > 0:
            raise UsageError("--monitor SECONDS must be more than 0")
        return "monitor"
    return args.action or "collect"


def main(args: argparse.Namespace) -> int:
    action = _action(args)
    if args.pid <= 0:
        raise UsageError(f"PID must be a positive process id, not {args.pid}")
    if not args.timeout > 0:
        raise UsageError("--timeout must be more than 0 seconds")
    if args.limit < 0 or args.max_objects < 0:
        raise UsageError("--limit and --max-objects must be 0 (all) or more")
    if action == "snapshot":
        if args.output is None:
            raise UsageError("--snapshot needs -o FILE (.heapsnapshot: Chrome DevTools' format)")
        check_writable(args.output)
        fmt = "heapsnapshot" if args.output.lower().endswith(".heapsnapshot") else "refscope"
    else:
        fmt = output_format(args.output) or "text"
    if fmt not in refscope.attach.FORMATS[action]:
        raise UsageError(
            f"-o {args.output!r}: --{action} writes {', '.join(refscope.attach.FORMATS[action])}"
        )
    err = sys.stderr

    def log(message: str) -> None:
        if args.verbose and message:
            print(f"refscope: {message}", file=err, flush=True)

    try:
        result = refscope.attach.attach(
            args.pid,
            action,
            seconds=args.monitor_seconds,
            format=fmt,
            color=args.output is None and refscope.color_wanted(sys.stdout),
            max_objects=args.max_objects,
            frame_locals=not args.no_frame_locals,
            limit=args.limit,
            timeout=args.timeout,
            debugger=args.debugger,
            output=args.output if action == "snapshot" else None,
            log=log,
        )
    except refscope.attach.AttachError as error:
        print(f"refscope attach: error: {error}", file=err)
        return EXIT_CODES.get(error.reason, EXIT_FAILURE)
    except ValueError as error:
        raise UsageError(str(error)) from None
    print(_summary(result), file=err, flush=True)
    for what in result.restored:
        print(f"refscope: warning: restored the target's {what} after the work", file=err)
    if action == "snapshot":
        print(f"refscope: snapshot written to {args.output}", file=err)
    elif args.output is None:
        sys.stdout.write(result.body)
        sys.stdout.flush()
    else:
        try:
            write_output(args.output, result.body)
        except OSError as error:
            print(f"refscope attach: error: cannot write {args.output}: {error}", file=err)
            return EXIT_FAILURE
        print(f"refscope: report written to {args.output}", file=err)
    return EXIT_OK


def _summary(result: refscope.attach.AttachResult) -> str:
    details = result.details
    work = f"{details.get('seconds', 0.0):.2f} s"
    if result.action == "collect":
        found = (
            f"{plural(details.get('cycles', 0), 'cycle')} in "
            f"{plural(details.get('groups', 0), 'group')} among "
            f"{plural(details.get('objects', 0), 'object')} (analysed in {work})"
        )
    elif result.action == "monitor":
        found = (
            f"{plural(details.get('collections_seen', 0), 'collection')} in {work}, "
            f"{plural(details.get('cycles', 0), 'cycle')} found"
        )
    elif result.action == "snapshot":
        found = (
            f"snapshot of {plural(details.get('objects', 0), 'object')} and "
            f"{plural(details.get('references', 0), 'reference')} taken in {work}"
        )
    else:
        found = f"{plural(details.get('objects', 0), 'object')} counted in {work}"
    return (
        f"refscope: attached to process {result.pid} (Python {result.python}) with "
        f"{result.method}; its main thread ran the bootstrap after "
        f"{result.waited_seconds:.2f} s; {found}"
    )
