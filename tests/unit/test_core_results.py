"""What `_core` returns is what `_core.pyi` declares: frozen result classes with named,
read-only fields of the declared types (no positional tuples, no dicts)."""

import ast
import gc
import sys
import tracemalloc
from pathlib import Path

import pytest

import refscope
from refscope import _core

STUB = Path(_core.__file__).with_name("_core.pyi")
SIMPLE = {"int": int, "str": str, "bool": bool, "float": float, "type": type}


def stub_properties():
    """{class name: {property: annotation text}} for the stub's classes with properties."""
    found = {}
    for node in ast.parse(STUB.read_text()).body:
        if not isinstance(node, ast.ClassDef):
            continue
        props = {
            item.name: ast.unparse(item.returns)
            for item in node.body
            if isinstance(item, ast.FunctionDef)
            and any(ast.unparse(d) == "property" for d in item.decorator_list)
        }
        if props:
            found[node.name] = props
    return found


PROPERTIES = stub_properties()
RESULT_CLASSES = [
    name for name in PROPERTIES if name not in ("CycleAnalysis", "HeapSnapshot")
]


def check(value, annotation, seen, where):
    """Asserts `value` has the stub's `annotation`; records the result classes met."""
    alternatives = [part.strip() for part in annotation.split("|")]
    if "None" in alternatives and value is None:
        return
    alternatives = [a for a in alternatives if a != "None"]
    assert len(alternatives) == 1, f"{where}: unsupported annotation {annotation}"
    (annotation,) = alternatives
    if annotation.startswith("list[") and annotation.endswith("]"):
        assert type(value) is list, f"{where}: {type(value).__name__}, not a list"
        for i, item in enumerate(value):
            check(item, annotation[5:-1], seen, f"{where}[{i}]")
        return
    if annotation in SIMPLE:
        expected = SIMPLE[annotation]
        ok = isinstance(value, expected) and not (expected is int and type(value) is bool)
        assert ok, f"{where}: {value!r} is not {annotation}"
        return
    cls = getattr(_core, annotation)
    assert type(value) is cls, f"{where}: {type(value).__name__}, not {annotation}"
    seen.add(annotation)
    for name, inner in PROPERTIES[annotation].items():
        check(getattr(value, name), inner, seen, f"{where}.{name}")
    with pytest.raises(AttributeError):
        setattr(value, next(iter(PROPERTIES[annotation])), None)  # frozen, read-only


class Holder:
    def __init__(self):
        self.callback = self.run  # a bound-method cycle: a group with a fix hint

    def run(self):
        pass

    def __del__(self):
        pass


def frame_cycle():
    here = sys._getframe()
    value = "a local"  # noqa: F841 - shown among the frame's locals
    return here


@pytest.fixture
def analysis():
    was_tracing = tracemalloc.is_tracing()
    tracemalloc.start(5)
    try:
        holder = Holder()
        frame = frame_cycle()
        # materialize_dicts: frame locals are read on 3.10-3.12 too (this frame is ours).
        analysis = _core.analyze(
            [holder, holder.callback, frame], keep_objects=True, materialize_dicts=True
        )
        del holder, frame
        yield analysis
    finally:
        if not was_tracing:
            tracemalloc.stop()


def test_every_result_class_of_the_stub_exists_and_is_frozen():
    for name in RESULT_CLASSES:
        cls = getattr(_core, name)
        assert cls.__module__ == "refscope._core"
        with pytest.raises(TypeError):
            cls()  # made by the binding only


def test_cycle_analysis_results_have_the_declared_fields_and_types(analysis):
    seen = set()
    check(analysis.groups_info(), "list[GroupInfo]", seen, "groups_info()")
    for index in range(len(analysis)):
        check(analysis.cycle_info(index), "list[ObjectInfo]", seen, f"cycle_info({index})")
    check(analysis.phase_seconds, "list[PhaseTime]", seen, "phase_seconds")
    # Every class these answers use was met, nested ones included.
    wanted = {"GroupInfo", "HintInfo", "ObjectInfo", "FrameDetails", "SourceLine",
              "LocalValue", "PhaseTime"}
    assert wanted <= seen, wanted - seen
    infos = [info for i in range(len(analysis)) for info in analysis.cycle_info(i)]
    assert any(info.allocated_at for info in infos)
    assert any(info.frame is not None and info.frame.locals for info in infos)
    assert any(g.hint is not None for g in analysis.groups_info())


class Marker:
    pass


MARKERS = []


def test_heap_snapshot_results_have_the_declared_fields_and_types():
    older = refscope.snapshot()._core
    MARKERS.extend(Marker() for _ in range(10))
    ring = [Marker() for _ in range(3)]
    for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
        a.next = b
    MARKERS.append(ring[0])
    del ring
    gc.collect()
    snap = refscope.snapshot()._core
    node = snap.node_of(id(MARKERS[0]))
    seen = set()
    check(snap.meta, "SnapshotMeta", seen, "meta")
    check(snap.reference_counts(node), "ReferenceCounts", seen, "reference_counts()")
    check(snap.references(snap.node_of(id(MARKERS))), "list[LabelledNode]", seen, "references()")
    check(snap.top_types(), "list[TypeTotals]", seen, "top_types()")
    check(snap.growth(older), "list[TypeGrowthInfo]", seen, "growth()")
    check(snap.diff(older), "HeapDiff", seen, "diff()")
    check(snap.largest_retainers(5), "list[Retained]", seen, "largest_retainers()")
    check(snap.dominated(None, 5), "list[Retained]", seen, "dominated()")
    check(snap.dominated_each([node], 3), "list[list[Retained]]", seen, "dominated_each()")
    check(snap.cycle_groups(), "list[HeapCycleGroup]", seen, "cycle_groups()")
    check(snap.roots(), "list[RootInfo]", seen, "roots()")
    check(snap.why_alive(node), "RetentionPath | None", seen, "why_alive()")
    wanted = {"SnapshotMeta", "ReferenceCounts", "LabelledNode", "TypeTotals",
              "TypeGrowthInfo", "HeapDiff", "TypeChangeInfo", "HeapCycleGroup", "Retained",
              "RootInfo", "RetentionPath"}
    assert wanted <= seen, wanted - seen
    del MARKERS[:]


def test_objgraph_census_results_have_the_declared_fields_and_types():
    objects = [Marker(), Marker(), [], {}]
    seen = set()
    census = _core.objgraph_type_census(objects)
    check(census, "list[TypeCount]", seen, "objgraph_type_census()")
    assert [(row.type, row.count) for row in census] == [(Marker, 2), (list, 1), (dict, 1)]
    by_type = _core.objgraph_addresses_by_type(objects)
    check(by_type, "list[TypeAddresses]", seen, "objgraph_addresses_by_type()")
    assert by_type[0].type is Marker
    assert by_type[0].addresses == [id(objects[0]), id(objects[1])]


def test_every_result_class_is_returned_somewhere():
    # The tests above meet each class of the stub's result section at least once.
    returned = {
        "GroupInfo", "HintInfo", "ObjectInfo", "FrameDetails", "SourceLine", "LocalValue",
        "PhaseTime", "SnapshotMeta", "ReferenceCounts", "LabelledNode", "TypeTotals",
        "TypeGrowthInfo", "HeapDiff", "TypeChangeInfo", "HeapCycleGroup", "Retained",
        "RootInfo", "RetentionPath", "TypeCount", "TypeAddresses",
    }
    assert set(RESULT_CLASSES) == returned
