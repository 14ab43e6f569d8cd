"""refscope.objgraph beside objgraph 3.7.0 on big heaps, in one run.

    .venv/bin/python benches/objgraph_compare.py [--sizes 1000000,10000000]
        [--backrefs-size 1260000] [--markdown FILE]

objgraph 3.7.0 comes from its sdist (``pip download``, cached under target/objgraph-sdist);
its objgraph.py is imported from a temporary directory. For each heap size the script
builds a heap of that many gc-tracked objects (instances, lists, dicts and tuples, about a
quarter each; a target object held by 30 lists in a module global's list), then times, with
both modules: ``typestats()``, ``show_growth()`` (printing to a buffer) and
``find_backref_chain(target, is_proper_module)``. On the ``--backrefs-size`` heap it times
``show_backrefs(target, max_depth=3)`` and ``max_depth=4`` (DOT to a buffer). Each figure
is the best of ``--repeat`` runs (1 for objgraph's slow calls). Results are checked to
agree (same counts, chains of one length, same number of drawn nodes).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import io
import os
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import objgraph_suite  # noqa: E402  (the sdist download and cache)

import refscope.objgraph as ours  # noqa: E402


class Item:
    def __init__(self, i: int) -> None:
        self.i = i


class Target:
    pass


HEAP: list = []  # module global: the chain's root is this module
HOLDERS = 30


def build(size: int) -> Target:
    HEAP.clear()
    gc.collect()
    base = len(gc.get_objects())
    quarter = max(1, (size - base) // 4)
    shared: list = []
    HEAP.extend(Item(i) for i in range(quarter))
    HEAP.extend([i] for i in range(quarter))
    HEAP.extend({"k": shared} for i in range(quarter))  # refers to a list: gc tracks it
    HEAP.extend((i, shared) for i in range(quarter))
    # An object shared by HOLDERS containers: the backwards search must look at each
    # of them before it reaches the module (objgraph: one heap scan per container).
    target = Target()
    HEAP.extend([target] for _ in range(HOLDERS))
    gc.collect()
    return target


def timed(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def load_objgraph(tmp: str):
    tarball = objgraph_suite.sdist(objgraph_suite.DEFAULT_CACHE)
    if tarball is None:
        sys.exit("objgraph 3.7.0 sdist could not be downloaded")
    with tarfile.open(tarball) as tar:
        member = tar.getmember(f"objgraph-{objgraph_suite.VERSION}/objgraph.py")
        with open(os.path.join(tmp, "objgraph.py"), "wb") as f:
            f.write(tar.extractfile(member).read())
    sys.path.insert(0, tmp)
    return importlib.import_module("objgraph")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--backrefs-size", type=int, default=1_260_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown")
    args = parser.parse_args()
    rows: list[tuple[str, int, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        theirs = load_objgraph(tmp)
        for size in [int(s) for s in args.sizes.split(",")]:
            target = build(size)
            n = len(gc.get_objects())
            print(f"heap of {n:,} gc-tracked objects", file=sys.stderr)

            t_ours, s_ours = timed(ours.typestats, args.repeat)
            t_theirs, s_theirs = timed(theirs.typestats, 1)
            assert s_ours["Item"] == s_theirs["Item"], (s_ours["Item"], s_theirs["Item"])
            rows.append(("typestats()", n, t_theirs, t_ours))

            def growth(module):
                peak: dict = {}
                module.show_growth(peak_stats=peak, file=io.StringIO())
                return peak

            t_ours, g_ours = timed(lambda: growth(ours), args.repeat)
            t_theirs, g_theirs = timed(lambda: growth(theirs), 1)
            assert g_ours["Item"] == g_theirs["Item"]
            rows.append(("show_growth()", n, t_theirs, t_ours))

            def chain(module, target=target):
                return module.find_backref_chain(target, module.is_proper_module)

            t_ours, c_ours = timed(lambda: chain(ours), args.repeat)
            t_theirs, c_theirs = timed(lambda: chain(theirs), 1)
            assert len(c_ours) == len(c_theirs) > 1, (len(c_ours), len(c_theirs))
            rows.append(("find_backref_chain(target, is_proper_module)", n, t_theirs, t_ours))
            del target, c_ours, c_theirs

        target = build(args.backrefs_size)
        n = len(gc.get_objects())
        for depth in (3, 4):
            def draw(module, depth=depth, target=target):
                out = io.StringIO()
                module.show_backrefs([target], max_depth=depth, output=out)
                return out.getvalue().count("[label=")

            t_ours, d_ours = timed(lambda: draw(ours), args.repeat)
            t_theirs, d_theirs = timed(lambda: draw(theirs), 1)
            print(f"show_backrefs depth {depth}: {d_ours} vs {d_theirs} labels", file=sys.stderr)
            rows.append((f"show_backrefs(target, max_depth={depth})", n, t_theirs, t_ours))
        HEAP.clear()

    lines = [
        "| call | heap (gc objects) | objgraph 3.7.0 | refscope.objgraph | speed-up |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, n, t_theirs, t_ours in rows:
        lines.append(f"| `{name}` | {n:,} | {t_theirs:.3f} s | {t_ours:.3f} s "
                     f"| {t_theirs / t_ours:.1f}× |")
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        os.makedirs(os.path.dirname(os.path.abspath(args.markdown)), exist_ok=True)
        with open(args.markdown, "w") as f:
            f.write(table + "\n")


if __name__ == "__main__":
    main()
