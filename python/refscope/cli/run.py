"""``refscope run SCRIPT [ARGS...]``: run a script and report the reference cycles it created.

Exit codes (see docs/cli.md): 0 success; the script's own exit code when it calls
``sys.exit``; 1 when the script raises; 2 usage errors; 3 ``--fail-on-cycles`` and the
script, which otherwise succeeded, created reference cycles; 130 interrupted.
"""

from __future__ import annotations

import argparse
import builtins
import io
import os
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any, TextIO

import refscope

from .common import EXIT_USAGE, UsageError, output_format, plural, write_output

EXIT_SCRIPT_RAISED = 1
EXIT_CYCLES_FOUND = 3
EXIT_INTERRUPTED = 130

# An analysis of this many objects takes about half a second (0.8 µs per object measured
# on the 1M-object ring of docs/cli.md), long enough to say what is going on.
LARGE_ANALYSIS_OBJECTS = 500_000
SLOW_ANALYSIS_SECONDS = 0.5
# Frames tracemalloc records per allocation under --trace (refscope's own runpy and exec
# frames take the oldest six).
TRACE_FRAMES = 25

HELP = "run a Python script and report the reference cycles it created"
DESCRIPTION = (
    "Run SCRIPT like 'python SCRIPT ARGS...' and report the reference cycles that became "
    "garbage while it ran: every cycle the garbage collector found (or would have found at "
    "the end) among the objects the script dropped. Its module globals stay alive until the "
    "report is made, as in a normal run. The report goes to stderr, or to the file given "
    "with -o."
)
EPILOG = (
    "Options go before SCRIPT; everything after SCRIPT is passed to it. Exit codes: the "
    "script's own (0 when it ends normally, its sys.exit code), 1 if it raised (the "
    "traceback is printed and the report still made), 2 for a usage error (the script does "
    f"not run), {EXIT_CYCLES_FOUND} with --fail-on-cycles when cycles were found and the "
    f"script otherwise succeeded, {EXIT_INTERRUPTED} if it was interrupted."
)


def add_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("script", metavar="SCRIPT", help="path of the Python script to run")
    run.add_argument(
        "script_args", nargs=argparse.REMAINDER, metavar="ARGS", help="arguments for SCRIPT"
    )
    run.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="write the report to PATH instead of stderr; the format follows the extension: "
        ".txt (text), .json, .html (self-contained page)",
    )
    run.add_argument(
        "--trace",
        action="store_true",
        help=f"record allocation sites with tracemalloc ({TRACE_FRAMES} frames) and show where "
        "each object on a cycle was created (slows the script down)",
    )
    run.add_argument(
        "--fail-on-cycles",
        action="store_true",
        help=f"exit with code {EXIT_CYCLES_FOUND} if the script created any cycle (for CI)",
    )
    run.add_argument(
        "--no-frame-locals",
        action="store_true",
        help="leave frames' local variables out of the report (they may hold secrets)",
    )
    run.add_argument(
        "--max-objects",
        type=int,
        default=12,
        metavar="N",
        help="objects shown per cycle in the text report, 0 for all (default: 12)",
    )
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="say on stderr what refscope is doing and how long the analysis took",
    )


def main(args: argparse.Namespace) -> int:
    if args.max_objects < 0:
        raise UsageError("--max-objects must be 0 (all) or more")
    fmt = output_format(args.output)
    code = load_script_or_report(args.script)
    if isinstance(code, int):
        return code
    stream = sys.stderr
    progress = _Progress(args.verbose, stream)
    if args.trace:
        import tracemalloc

        # The analysis reads each object's allocation traceback while tracing is on
        # (CycleEntry.allocated_at), and every format shows it.
        tracemalloc.start(TRACE_FRAMES)
    if args.verbose:
        progress.say(f"running {args.script} (cycles that become garbage are kept for the report)")
    environment = ScriptEnvironment(args.script, list(args.script_args))
    exit_code = 0
    watch = refscope.capture(frame_locals=not args.no_frame_locals, progress=progress)
    with watch:
        with environment as namespace:
            exit_code = execute_script(code, namespace)
            join_script_threads()
        del namespace
    report = watch.report
    assert report is not None
    _flush_standard_streams()
    try:
        _write_report(
            report, fmt, args.output, args.max_objects, stream, f"refscope run {args.script}"
        )
    except OSError as error:
        # The path was checked before the script ran; it can still vanish meanwhile.
        print(f"refscope: cannot write the report to {args.output}: {error}", file=stream)
        return exit_code or EXIT_USAGE
    # The script's module stays alive until here, as in `python SCRIPT`.
    del environment
    if exit_code == 0 and args.fail_on_cycles and len(report):
        print(
            f"refscope: the script created {plural(len(report), 'reference cycle')} "
            f"(exit code {EXIT_CYCLES_FOUND}, --fail-on-cycles)",
            file=stream,
        )
        return EXIT_CYCLES_FOUND
    return exit_code


class _Progress:
    """Status lines on stderr: always with --verbose, otherwise for long analyses."""

    def __init__(self, verbose: bool, stream: TextIO) -> None:
        self.verbose = verbose
        self.stream = stream
        self.announced = False
        self.started = 0.0

    def say(self, message: str) -> None:
        print(f"refscope: {message}", file=self.stream, flush=True)

    def __call__(self, stage: str, objects: int) -> None:
        if stage == "collecting":
            if self.verbose:
                self.say("the script ended; collecting the garbage it left behind")
        elif stage == "analysing":
            self.started = time.perf_counter()
            if self.verbose or objects >= LARGE_ANALYSIS_OBJECTS:
                self.announced = True
                self.say(f"analysing {objects:,} objects…")
        elif stage == "analysed":
            elapsed = time.perf_counter() - self.started
            if self.verbose or self.announced or elapsed >= SLOW_ANALYSIS_SECONDS:
                self.say(f"analysed {objects:,} objects in {elapsed:.2f} s")


def _load_script(path: str) -> types.CodeType:
    if not os.path.exists(path):
        raise UsageError(f"cannot open script {path!r}: no such file")
    if os.path.isdir(path):
        raise UsageError(f"{path!r} is a directory; give the path of a Python script")
    try:
        with io.open_code(path) as source_file:
            source = source_file.read()
    except OSError as error:
        raise UsageError(f"cannot open script {path!r}: {error.strerror or error}") from None
    return compile(source, path, "exec", dont_inherit=True)


def _exit_code_of(exit_request: SystemExit) -> int:
    """What ``python script.py`` would exit with for this SystemExit."""
    code = exit_request.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _print_script_error() -> int:
    """Print the script's uncaught exception as Python would; the exit code to use.

    A function of its own so no frame of a long-lived caller names the exception (that
    would be a cycle of refscope's own in the report).
    """
    kind, error, trace = sys.exc_info()
    assert kind is not None and trace is not None
    try:
        # Skip refscope's own frame (the exec call), as Python shows only the script's.
        # (The default hook prints error.__traceback__, not its third argument.)
        sys.excepthook(kind, error.with_traceback(trace.tb_next), trace.tb_next)
    finally:
        del error, trace
    return EXIT_INTERRUPTED if issubclass(kind, KeyboardInterrupt) else EXIT_SCRIPT_RAISED


def join_script_threads() -> None:
    """Wait for the script's non-daemon threads, as the interpreter does at exit."""
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon and thread.is_alive():
            thread.join()


class ScriptEnvironment:
    """``sys.argv``, ``sys.path[0]`` and ``__main__`` set as for ``python SCRIPT``."""

    def __init__(self, path: str, script_args: list[str]) -> None:
        self.path = path
        self.argv = [path, *script_args]
        module = types.ModuleType("__main__")
        module.__file__ = path
        module.__builtins__ = builtins  # type: ignore[attr-defined]
        module.__cached__ = None  # type: ignore[attr-defined]
        module.__loader__ = None
        module.__spec__ = None
        self.module = module
        self._saved: tuple[Any, list[str], str | None] | None = None

    def __enter__(self) -> dict[str, Any]:
        self._saved = (sys.modules.get("__main__"), sys.argv, sys.path[0] if sys.path else None)
        sys.modules["__main__"] = self.module
        sys.argv = self.argv
        script_directory = os.path.dirname(os.path.abspath(self.path))
        if sys.path:
            sys.path[0] = script_directory
        else:
            sys.path.insert(0, script_directory)
        return self.module.__dict__

    def __exit__(self, *exc_info: object) -> None:
        assert self._saved is not None
        main_module, argv, path0 = self._saved
        self._saved = None
        if main_module is not None:
            sys.modules["__main__"] = main_module
        sys.argv = argv
        if path0 is not None and sys.path:
            sys.path[0] = path0


def _write_report(
    report: refscope.CycleReport,
    fmt: str | None,
    path: str | None,
    max_objects: int,
    stream: TextIO,
    title: str,
) -> None:
    if fmt is None:
        color = refscope.color_wanted(stream)
        stream.write(report.to_text(color=color, max_objects_per_cycle=max_objects))
        stream.flush()
        return
    assert path is not None
    if fmt == "text":
        write_output(path, report.to_text(color=False, max_objects_per_cycle=max_objects))
    elif fmt == "json":
        write_output(path, report.to_json(indent=2))
    else:
        report.to_html(path, title=title)
    print(
        f"refscope: {plural(len(report), 'cycle')} ({plural(len(report.groups), 'shape')}) "
        f"among {plural(report.analysed_count, 'object')}; report written to {path}",
        file=stream,
    )


def load_script_or_report(path: str) -> types.CodeType | int:
    try:
        return _load_script(path)
    except SyntaxError:
        # As `python SCRIPT` does: the error, exit code 1, nothing ran.
        return _print_syntax_error()


def _print_syntax_error() -> int:
    """Print the script's SyntaxError as ``python SCRIPT`` does: no traceback, since none
    of its frames ran (the default hook prints ``error.__traceback__``, which holds
    refscope's own frames, whatever its third argument says)."""
    kind, error, _traceback = sys.exc_info()
    assert kind is not None and error is not None
    try:
        sys.excepthook(kind, error.with_traceback(None), None)
    finally:
        del error, _traceback
    return EXIT_SCRIPT_RAISED


def execute_script(code: types.CodeType, namespace: dict[str, Any]) -> int:
    try:
        exec(code, namespace)
    except SystemExit as exit_request:
        return _exit_code_of(exit_request)
    except BaseException:
        return _print_script_error()
    return 0


def _flush_standard_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        flush: Callable[[], None] | None = getattr(stream, "flush", None)
        try:
            if flush is not None:
                flush()
        except (OSError, ValueError):
            pass
