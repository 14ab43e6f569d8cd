"""How long to_html() and to_svg() take, and how big their output is, on large reports.

Workloads (real CPython objects, analysed by refscope.find_cycles with keep_objects=False):

* ``identical``: 100,000 cycles of the same shape (two objects referring to each other):
  one group of ×100,000.
* ``distinct``: 100,000 two-object cycles that each use their own attribute name, so
  every cycle is its own group: the worst case for the HTML page, which lists at most
  ``max_groups`` groups (default 1,000; also measured with no limit).
* ``ring``: one cycle of 1,000,000 objects, drawn capped at 50 objects.

Prints a Markdown table (best of ``--repeat`` runs of each render). Run with
``python benches/html_render.py`` after ``make build``.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import tempfile

from _workloads import analysed, best_of, distinct_pairs, identical_pairs, one_ring


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=100_000, help="cycles per workload")
    parser.add_argument("--ring", type=int, default=1_000_000, help="objects in the ring")
    parser.add_argument("--repeat", type=int, default=3, help="runs per render (best kept)")
    args = parser.parse_args()

    rows = []
    directory = tempfile.mkdtemp(prefix="refscope-html-bench-")
    workloads = [
        ("identical", lambda: identical_pairs(args.cycles), {}),
        ("distinct", lambda: distinct_pairs(args.cycles), {}),
        ("distinct, max_groups=0", lambda: distinct_pairs(args.cycles), {"max_groups": 0}),
        ("ring", lambda: one_ring(args.ring), {}),
    ]
    for name, make, html_options in workloads:
        report, analysis, groups, grouping = analysed(make())
        path = os.path.join(directory, "report.html")
        html_time, _ = best_of(
            args.repeat, lambda r=report, p=path, o=html_options: r.to_html(p, **o)
        )
        html_size = os.path.getsize(path)
        svg_time, svg = best_of(args.repeat, report.to_svg)
        rows.append(
            (name, len(report), groups, analysis, grouping, html_time, html_size, svg_time,
             len(svg.encode()))
        )
        del report, svg
        gc.enable()
        gc.collect()
    os.remove(os.path.join(directory, "report.html"))
    os.rmdir(directory)

    print(f"Python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs; `{' '.join([os.path.basename(sys.executable)] + sys.argv)}`\n")
    print("| workload | cycles | groups | find_cycles | grouping | to_html | HTML size "
          "| to_svg | SVG size |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, cycles, groups, analysis, grouping, html, html_size, svg, svg_size in rows:
        print(f"| {name} | {cycles:,} | {groups:,} | {analysis * 1000:.0f} ms "
              f"| {grouping * 1000:.0f} ms | {html * 1000:.0f} ms | {html_size / 1e6:.2f} MB "
              f"| {svg * 1000:.0f} ms | {svg_size / 1e6:.2f} MB |")


if __name__ == "__main__":
    main()
