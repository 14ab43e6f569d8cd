"""Helpers shared by the commands of :mod:`refscope.cli` (not commands themselves)."""

from __future__ import annotations

import argparse
import os

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

# Report formats by the extension of ``-o PATH``.
OUTPUT_FORMATS = {".txt": "text", ".json": "json", ".html": "html"}


class UsageError(Exception):
    """A bad command line: reported with the command's usage, exit code 2."""


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``1 cycle``, ``2 cycles``, ``1,000 objects``."""
    word = noun if count == 1 else (plural_noun or noun + "s")
    return f"{count:,} {word}"


def output_format(path: str | None, option: str = "-o") -> str | None:
    """The report format for ``-o PATH`` (``None`` without one), after checking that PATH
    can be written: a known extension, an existing directory, and a file that can be
    created or overwritten there. Any problem is a :class:`UsageError` naming PATH, so a
    command fails before it does any work."""
    if path is None:
        return None
    extension = os.path.splitext(path)[1].lower()
    fmt = OUTPUT_FORMATS.get(extension)
    if fmt is None:
        raise UsageError(
            f"{option} {path!r}: the report format follows the file extension, which must be "
            f"one of {', '.join(OUTPUT_FORMATS)}"
        )
    check_writable(path, option)
    return fmt


def check_writable(path: str, option: str = "-o") -> None:
    """A :class:`UsageError` naming PATH unless a file can be created or overwritten
    there (the file is left as it was)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise UsageError(f"{option} {path!r}: directory {directory!r} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"{option} {path!r}: is a directory")
    existed = os.path.exists(path)
    try:
        # Opening for append is the only check that holds for every reason a write can
        # fail (permissions, root on a read-only file system, ACLs); it changes nothing
        # in an existing file, and a file created here is removed again.
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as error:
        reason = error.strerror or error
        raise UsageError(f"{option} {path!r}: cannot write there: {reason}") from None
    if not existed:
        try:
            os.remove(path)
        except OSError:
            pass


def write_output(path: str, text: str) -> None:
    """Write a report's text to ``path`` (UTF-8); failures are ``OSError``."""
    with open(path, "w", encoding="utf-8", newline="\n") as output:
        output.write(text)


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    """``--no-progress``: the snapshot commands otherwise ask refscope for its progress
    line (``progress=True``), drawn on stderr only when it is a terminal and the work
    takes more than a second (``REFSCOPE_PROGRESS_DELAY`` seconds)."""
    parser.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="no progress line on stderr (otherwise drawn on a terminal for work that takes "
        "over a second, or REFSCOPE_PROGRESS_DELAY seconds)",
    )
