"""The binding's heap walk alone, for instruction counts and quick timings.

Builds one shape of garbage (``ring``: a ring of ``__slots__`` objects; ``del_pairs``:
``__del__`` pairs with instance dicts), runs ``_core.analyze`` on it ``repeat`` times and
prints the walk phase's fastest and median milliseconds. Under callgrind, count only the
walk::

    valgrind --tool=callgrind --toggle-collect='_core::walk::walk*' \\
        .venv/bin/python benches/walk_only.py ring --size 200000 --repeat 1
"""

from __future__ import annotations

import argparse
import gc
import statistics

from refscope import _core


class Link:
    __slots__ = ("next",)


class Pair:
    def __init__(self) -> None:
        self.other: Pair | None = None

    def __del__(self) -> None:
        pass


def ring(n: int) -> list[object]:
    nodes = [Link() for _ in range(n)]
    for a, b in zip(nodes, nodes[1:] + nodes[:1], strict=True):
        a.next = b
    return list(nodes)


def del_pairs(n: int) -> list[object]:
    out: list[object] = []
    for _ in range(n // 2):
        a, b = Pair(), Pair()
        a.other, b.other = b, a
        out += (a, b)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape", choices=["ring", "del_pairs"])
    parser.add_argument("--size", type=int, default=1_000_000, help="objects (default 1M)")
    parser.add_argument("--repeat", type=int, default=7, help="analyses (default 7)")
    args = parser.parse_args()
    gc.disable()
    objects = {"ring": ring, "del_pairs": del_pairs}[args.shape](args.size)
    walk_ms = []
    for _ in range(args.repeat):
        analysis = _core.analyze(objects, keep_objects=True)
        walk_ms += [p.seconds * 1000 for p in analysis.phase_seconds if p.name == "walk"]
        del analysis
    print(
        f"{args.shape} {args.size} objects: walk {min(walk_ms):.1f} ms fastest, "
        f"{statistics.median(walk_ms):.1f} ms median of {len(walk_ms)}"
    )


if __name__ == "__main__":
    main()
