"""How long grouping and the text, JSON and DOT renderers take, and how big their output is.

Workloads (real CPython objects, analysed by ``refscope.find_cycles(keep_objects=False)``):

* ``identical``: 100,000 two-object cycles of one shape: one group of ×100,000.
* ``distinct``: 100,000 two-object cycles that each use their own attribute name, so
  every cycle is its own group (the worst case for grouping and for every format).
* ``ring``: one cycle of 1,000,000 objects (signature of a million steps).

Each render runs with its defaults (text: the 100 largest groups, one example each, 100
objects per cycle; JSON: the 1,000 largest groups, 10 cycles each, 1,000 objects per
cycle, compact; DOT: the 100 largest groups, 50 objects per cycle), and text and JSON also
with no limits; each ``--repeat`` times, the best time kept. Grouping is timed once, on the first
``report.groups`` (the core caches it; the renderers reuse it). Prints a Markdown table.
Run with ``python benches/report_render.py`` after ``make build``.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys

from _workloads import analysed, best_of, distinct_pairs, identical_pairs, one_ring


def milliseconds(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:.2f} ms" if value < 10 else f"{value:,.0f} ms"


def kilobytes(size: int) -> str:
    return f"{size / 1000:,.1f} KB" if size < 1_000_000 else f"{size / 1e6:,.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=100_000, help="cycles per workload")
    parser.add_argument("--ring", type=int, default=1_000_000, help="objects in the ring")
    parser.add_argument("--repeat", type=int, default=3, help="runs per render (best kept)")
    args = parser.parse_args()

    workloads = [
        ("identical", lambda: identical_pairs(args.cycles)),
        ("distinct", lambda: distinct_pairs(args.cycles)),
        ("ring", lambda: one_ring(args.ring)),
    ]
    renders = [
        ("to_text", lambda r: r.to_text(color=False)),
        ("to_text(max_groups=0, max_objects_per_cycle=0)",
         lambda r: r.to_text(color=False, max_groups=0, max_objects_per_cycle=0)),
        ("to_json", lambda r: r.to_json()),
        ("to_json(max_groups=0, max_objects_per_cycle=0)",
         lambda r: r.to_json(max_groups=0, max_objects_per_cycle=0)),
        ("to_dot", lambda r: r.to_dot()),
    ]
    rows = []
    for name, make in workloads:
        report, analysis, groups, grouping = analysed(make())
        for render_name, render in renders:
            seconds, text = best_of(args.repeat, lambda r=report, f=render: f(r))
            rows.append((name, len(report), groups, analysis, grouping, render_name, seconds,
                         len(text.encode())))
            del text
        del report
        gc.enable()
        gc.collect()

    print(f"Python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs; `{' '.join([os.path.basename(sys.executable)] + sys.argv)}`\n")
    print("| workload | cycles | groups | find_cycles | grouping | render | time | size |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    for name, cycles, groups, analysis, grouping, render, seconds, size in rows:
        print(f"| {name} | {cycles:,} | {groups:,} | {analysis * 1000:.0f} ms "
              f"| {grouping * 1000:.0f} ms | `{render}` | {milliseconds(seconds)} "
              f"| {kilobytes(size)} |")


if __name__ == "__main__":
    main()
