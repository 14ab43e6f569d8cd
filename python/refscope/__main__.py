"""The `refscope` command line (also `python -m refscope`)."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="refscope",
        description="Find the reference cycles a Python program creates, and explain them.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="create the recipe's cycles (a __del__ pair, a frame cycle, a ring) and report them",
        description="Create a __del__ pair, a frame cycle from a caught exception and a ring "
        "of objects, collect them with refscope.collect() and print the report.",
    )
    demo.add_argument("--ring-size", type=int, default=100_000, metavar="N",
                      help="objects in the ring (default: 100000)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.ring_size < 1:
            parser.error("--ring-size must be at least 1")
        from ._demo import run

        return run(ring_size=args.ring_size)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
