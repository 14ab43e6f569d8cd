"""Allocation sites from tracemalloc, and frame locals shown with a guarded repr() on request."""

import gc
import json
import tracemalloc

import pytest

import refscope


class Node:
    # Slots: CPython 3.11's tracemalloc finds no traceback for instances with a managed
    # __dict__ (it misses their pre-header; fixed in 3.12), slotted instances work on all.
    __slots__ = ("me",)


def make_node_cycle():
    node = Node()  # ALLOCATION LINE
    node.me = node


ALLOCATION_LINE = next(
    number
    for number, line in enumerate(open(__file__, encoding="utf-8"), start=1)
    if line.rstrip().endswith("# ALLOCATION LINE")
)


@pytest.fixture
def tracing():
    """tracemalloc on for the test (25 frames per traceback), off afterwards."""
    was_tracing = tracemalloc.is_tracing()
    tracemalloc.start(25)
    yield
    if not was_tracing:
        tracemalloc.stop()


def node_entry(report):
    (cycle,) = [c for c in report.cycles if c.types == [f"{__name__}.Node"]]
    return cycle.entries[0]


def test_allocation_site_is_reported_when_tracemalloc_traced_the_allocation(tracing):
    gc.disable()
    make_node_cycle()
    report = refscope.collect()
    sites = node_entry(report).allocated_at
    assert sites, report.to_text(color=False)
    assert sites[-1] == (__file__, ALLOCATION_LINE)
    assert any(line for name, line in sites[:-1] if name == __file__)  # the caller, this test


def test_allocation_sites_taken_during_the_analysis_survive_tracemalloc_stopping(tracing):
    node = Node()  # a kept report is described lazily, after tracing stopped
    node.me = node
    report = refscope.find_cycles([node], keep_objects=True)
    tracemalloc.stop()
    assert node_entry(report).allocated_at[-1][0] == __file__


def test_allocation_sites_appear_in_text_and_json(tracing):
    gc.disable()
    make_node_cycle()
    report = refscope.collect()
    text = report.to_text(color=False)
    site = f'  File "{__file__}", line {ALLOCATION_LINE}\n'
    assert text.index("Allocated at (most recent call last):\n") < text.index(site)
    (group,) = [g for g in json.loads(report.to_json())["groups"] if "Node" in g["signature"]]
    sites = group["cycles"][0]["objects"][0]["allocated_at"]
    assert sites[-1] == {"filename": __file__, "lineno": ALLOCATION_LINE, "function": ""}


def test_no_allocation_sites_without_tracemalloc():
    assert not tracemalloc.is_tracing()
    gc.disable()
    make_node_cycle()
    report = refscope.collect()
    assert node_entry(report).allocated_at == ()
    assert "Allocated at" not in report.to_text(color=False)


def test_objects_allocated_before_tracing_started_have_no_site(tracing):
    tracemalloc.stop()
    node = Node()
    node.me = node
    tracemalloc.start(25)
    assert node_entry(refscope.find_cycles([node])).allocated_at == ()


# --- frame locals -------------------------------------------------------------------------

REPRS = []


class Loud:
    def __repr__(self):
        REPRS.append(self)
        return "Loud(volume=11)"


class Broken:
    def __repr__(self):
        raise KeyError("no repr for you")


class Recursive:
    def __repr__(self):
        return repr(self)


class Huge:
    def __repr__(self):
        return "x" * 100_000


def frame_with_locals():
    """Leaves a frame <-> exception cycle whose frame has interesting locals."""
    loud, broken, recursive, huge = Loud(), Broken(), Recursive(), Huge()  # noqa: F841
    many = list(range(1000))  # noqa: F841
    try:
        raise ValueError("boom")
    except ValueError as caught:
        kept = caught  # noqa: F841


def frame_locals_of(report):
    frames = [e for c in report.cycles for e in c.entries if e.kind == "frame"]
    assert frames, report.to_text(color=False)
    return dict(frames[0].frame_locals)


def test_frame_locals_are_safe_descriptions_by_default():
    REPRS.clear()
    gc.disable()
    frame_with_locals()
    local = frame_locals_of(refscope.collect())
    assert REPRS == []
    assert local["loud"] == "Loud object"
    assert local["broken"] == "Broken object"


def test_repr_locals_shows_reprs_guarded_against_failures_recursion_and_length():
    REPRS.clear()
    gc.disable()
    frame_with_locals()
    local = frame_locals_of(refscope.collect(repr_locals=True))
    assert len(REPRS) == 1
    assert local["loud"] == "Loud(volume=11)"
    assert local["broken"] == "<repr failed: KeyError>"
    assert local["recursive"] == "<repr failed: RecursionError>"
    assert len(local["huge"]) == 200 and "…" in local["huge"]
    assert local["many"].startswith("[0, 1, 2") and local["many"].endswith("...]")
    assert local["kept"] == "ValueError('boom')"


def test_repr_locals_appear_in_the_text_report():
    gc.disable()
    frame_with_locals()
    text = refscope.collect(repr_locals=True).to_text(color=False)
    assert "local loud = Loud(volume=11)" in text
    assert "local broken = <repr failed: KeyError>" in text


def test_repr_locals_with_frame_locals_off_shows_no_locals():
    REPRS.clear()
    gc.disable()
    frame_with_locals()
    report = refscope.collect(repr_locals=True, frame_locals=False)
    assert frame_locals_of(report) == {}
    assert REPRS == []


def test_guarded_repr_refuses_to_reenter_itself():
    from refscope._saferepr import guarded_repr

    class Nested:
        def __repr__(self):
            return "outer:" + guarded_repr(Loud())

    assert guarded_repr(Nested()) == "outer:<repr skipped: nested>"


def test_repr_locals_of_a_kept_report_are_taken_when_the_report_is_first_used():
    REPRS.clear()
    gc.disable()
    frame_with_locals()
    gc.set_debug(gc.DEBUG_SAVEALL)
    gc.collect()
    gc.set_debug(0)
    garbage = gc.garbage[:]
    del gc.garbage[:]
    report = refscope.find_cycles(garbage, keep_objects=True, repr_locals=True)
    del garbage
    assert REPRS == []  # nothing described yet
    assert frame_locals_of(report)["loud"] == "Loud(volume=11)"
    assert len(REPRS) == 1
