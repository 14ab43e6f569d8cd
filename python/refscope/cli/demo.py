"""``refscope demo``: the recipe's cases, found and explained."""

from __future__ import annotations

import argparse
import gc
import sys
import time
from typing import TextIO

import refscope

from .common import UsageError

HELP = "create the recipe's cycles (a __del__ pair, a frame cycle, a ring) and report them"
DESCRIPTION = (
    "Create a __del__ pair, a frame cycle from a caught exception and a ring of objects, "
    "collect them with refscope.collect() and print the report."
)
EPILOG = "Exit codes: 0 success, 2 usage error."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ring-size",
        type=int,
        default=100_000,
        metavar="N",
        help="objects in the ring (default: 100000)",
    )


def main(args: argparse.Namespace) -> int:
    if args.ring_size < 1:
        raise UsageError("--ring-size must be at least 1")
    return show_demo(ring_size=args.ring_size)


class B:
    """The recipe's B: creates an A that points back, and defines __del__."""

    def __init__(self) -> None:
        self.a = A(self)

    def __del__(self) -> None:  # the finaliser the recipe warns about
        pass


class A:
    def __init__(self, b_instance: B) -> None:
        self.b = b_instance


class RingNode:
    __slots__ = ("next",)


def make_del_pair() -> None:
    B()


def make_frame_cycle() -> None:
    try:
        raise ValueError("request failed")
    except ValueError as error:
        caught = error  # noqa: F841 - the local that closes frame -> exception -> traceback -> frame


def make_ring(size: int) -> None:
    first = node = RingNode()
    for _ in range(size - 1):
        node.next = RingNode()
        node = node.next
    node.next = first


def show_demo(ring_size: int = 100_000, out: TextIO | None = None) -> int:
    """Create the recipe's cycles, collect them with refscope and print the report."""
    out = out or sys.stdout
    was_enabled = gc.isenabled()
    gc.disable()  # as the recipe's server does: nothing is collected behind our back
    try:
        gc.collect()
        make_del_pair()
        make_frame_cycle()
        make_ring(ring_size)
        started = time.perf_counter()
        report = refscope.collect()
        elapsed = time.perf_counter() - started
    finally:
        if was_enabled:
            gc.enable()
    print(report.to_text(max_objects_per_cycle=8), file=out)
    print(
        f"refscope.collect(): gc.collect() found {report.collected} objects; "
        f"collection and analysis took {elapsed * 1000:.1f} ms",
        file=out,
    )
    return 0
