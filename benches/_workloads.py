"""Garbage shapes shared by the report-rendering benchmarks (html_render, report_render),
and their timing helper."""

from __future__ import annotations

import gc
import time

import refscope


class Pair:
    pass


def identical_pairs(count: int) -> list[object]:
    """`count` two-object cycles of one shape: one group ×count."""
    objects: list[object] = []
    for _ in range(count):
        a, b = Pair(), Pair()
        a.other, b.other = b, a
        objects += (a, b)
    return objects


def distinct_pairs(count: int) -> list[object]:
    """`count` two-object cycles, each with its own attribute name: `count` groups."""
    objects: list[object] = []
    for i in range(count):
        a, b = Pair(), Pair()
        setattr(a, f"link_{i}", b)
        b.back = a
        objects += (a, b)
    return objects


def one_ring(length: int) -> list[object]:
    """One cycle of `length` objects."""
    nodes = [Pair() for _ in range(length)]
    for node, following in zip(nodes, nodes[1:] + nodes[:1], strict=True):
        node.next = following
    return nodes


def best_of(repeat: int, action) -> tuple[float, object]:
    """The fastest of `repeat` runs of `action()` in seconds, and its last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = action()
        best = min(best, time.perf_counter() - start)
    return best, result


def analysed(objects: list[object]):
    """(report, seconds of find_cycles, group count, seconds of the grouping) for
    `objects`, with automatic gc off so that only the analysis is timed."""
    gc.disable()
    start = time.perf_counter()
    report = refscope.find_cycles(objects, keep_objects=False)
    analysis = time.perf_counter() - start
    start = time.perf_counter()
    groups = len(report.groups)
    grouping = time.perf_counter() - start
    return report, analysis, groups, grouping
