"""refscope.objgraph beyond objgraph's own suite: safety, the collect= keyword, chains on
real heaps, and the absence of reference cycles of its own."""

from __future__ import annotations

import gc
import io
import sys
import types

import pytest

import refscope.objgraph as objgraph
from refscope import _core


class ReprCounter:
    calls = 0

    def __repr__(self):
        ReprCounter.calls += 1
        return "ReprCounter()"

    def __eq__(self, other):
        raise AssertionError("__eq__ must not run")

    __hash__ = None


class ShadowingMeta(type):
    """A metaclass whose attribute lookups lie: counting must read the C type."""

    def __getattribute__(cls, name):
        if name in ("__name__", "__module__", "__class__"):
            return "liar"
        return super().__getattribute__(name)


class Shadowed(metaclass=ShadowingMeta):
    pass


def test_counting_runs_no_user_code_and_reads_real_type_names():
    ReprCounter.calls = 0
    keep = [ReprCounter() for _ in range(5)], [Shadowed() for _ in range(3)]
    assert objgraph.count("ReprCounter") == 5
    assert objgraph.count("Shadowed") == 3
    assert objgraph.count(f"{__name__}.Shadowed") == 3
    stats = objgraph.typestats(shortnames=False)
    assert stats[f"{__name__}.ReprCounter"] == 5
    assert "liar" not in stats and "liar.liar" not in stats
    assert len(objgraph.by_type("ReprCounter")) == 5
    assert objgraph.most_common_types(limit=None, objects=keep[0]) == [("ReprCounter", 5)]
    assert ReprCounter.calls == 0
    del keep


def test_typestats_matches_a_python_census_of_the_same_list():
    objects = [[], {}, (1, []), ReprCounter(), ReprCounter(), objgraph]
    expected: dict[str, int] = {}
    for o in objects:
        name = type(o).__name__
        expected[name] = expected.get(name, 0) + 1
    assert objgraph.typestats(objects) == expected
    assert list(objgraph.typestats(objects)) == list(expected)  # first-seen order
    assert objgraph.typestats(iter(objects), filter=lambda o: isinstance(o, list)) == {"list": 1}


def test_growth_without_collect_sees_objects_only_a_cycle_keeps():
    class Cyclic:
        pass

    objgraph.growth(limit=None, collect=False)
    for _ in range(7):
        c = Cyclic()
        c.me = c
    del c
    grown = dict((name, delta) for name, _, delta in objgraph.growth(limit=None, collect=False))
    assert grown.get("Cyclic") == 7
    # the default collects first, as objgraph does: the cycles are gone
    gc.collect()
    peak: dict = {}
    objgraph.growth(limit=None, peak_stats=peak)
    assert "Cyclic" not in peak


def test_show_growth_prints_objgraph_columns():
    peak: dict = {}
    out = io.StringIO()
    objgraph.show_growth(limit=3, peak_stats=peak, file=out, collect=False)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    for line in lines:
        name, total, delta = line.split()
        assert int(total) > 0 and delta.startswith("+")


def test_find_backref_chain_reaches_a_module_on_the_real_heap():
    target = ReprCounter()
    holder = {"deep": [[target]]}
    sys.modules[__name__]._kept_for_chain = holder  # type: ignore[attr-defined]
    try:
        chain = objgraph.find_backref_chain(target, objgraph.is_proper_module)
        assert chain[0] is sys.modules[__name__] or objgraph.is_proper_module(chain[0])
        assert chain[-1] is target
        for referrer, referent in zip(chain, chain[1:], strict=False):
            assert any(r is referent for r in gc.get_referents(referrer))
        forward = objgraph.find_ref_chain(holder, lambda o: o is target)
        assert forward[0] is holder and forward[-1] is target and len(forward) == 4
    finally:
        del sys.modules[__name__]._kept_for_chain  # type: ignore[attr-defined]


def test_chain_not_found_returns_the_object_and_max_depth_is_kept():
    a = [[[]]]
    assert objgraph.find_ref_chain(a, lambda o: False) == [a]
    assert objgraph.find_ref_chain(a, lambda o: o == [], max_depth=1) == [a]
    assert len(objgraph.find_ref_chain(a, lambda o: o == [], max_depth=2)) == 3
    lonely = ReprCounter()
    assert objgraph.find_backref_chain(lonely, lambda o: False, max_depth=3) == [lonely]


def test_predicate_errors_propagate_and_leave_nothing_behind():
    x = []
    holder = [x]

    def boom(o):
        if o is holder:
            raise KeyError("boom")
        return False

    with pytest.raises(KeyError):
        objgraph.find_backref_chain(x, boom)
    with pytest.raises(KeyError):
        objgraph.find_ref_chain(holder, lambda o: boom(holder))


def test_predicate_that_frees_objects_is_safe():
    items = [[i] for i in range(100)]
    holder = [items]

    def clear_all(o):
        items.clear()
        return False

    assert objgraph.find_ref_chain(holder, clear_all) == [holder]
    y = []
    container = [y]
    assert objgraph.find_backref_chain(y, lambda o: container.clear() or False) == [y]


@pytest.mark.parametrize("call", [
    lambda t: objgraph.count("Tracked"),
    lambda t: objgraph.typestats(),
    lambda t: objgraph.by_type("Tracked"),
    lambda t: objgraph.find_backref_chain(t, objgraph.is_proper_module),
    lambda t: objgraph.find_ref_chain(t, lambda o: False),
    lambda t: objgraph.show_backrefs([t], output=io.StringIO()),
    lambda t: objgraph.show_refs([t], output=io.StringIO()),
    lambda t: objgraph.get_leaking_objects(),
    lambda t: objgraph.at(id(t)),
])
def test_no_reference_cycle_of_its_own(call):
    Tracked = type("Tracked", (), {})
    gc.collect()
    gc.disable()
    try:
        t = Tracked()
        before = len(gc.get_referrers(t))
        result = call(t)
        del result
        assert len(gc.get_referrers(t)) == before
        # nothing of refscope's is left for the collector to find
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_at_and_at_addrs():
    a = [1]
    assert objgraph.at(id(a)) is a
    assert objgraph.at(id("untracked string")) is None
    assert objgraph.at("not an int") is None
    b = {"tracked": []}  # an empty dict is not tracked by gc, hence not found
    found = {id(o) for o in objgraph.at_addrs({id(a), id(b), 12345})}
    assert found == {id(a), id(b)}


def test_get_leaking_objects_finds_an_unreferenced_object():
    referenced = []
    keep = [referenced]
    roots = objgraph.get_leaking_objects([referenced, keep])
    found = {id(o) for o in roots}  # (a closure over `keep` would add a referrer: a cell)
    assert id(keep) in found  # only this running frame refers to it: no gc-tracked referrer
    assert id(referenced) not in found


def test_show_refs_does_not_create_dicts():
    def fn():
        pass

    class Plain:
        pass

    p = Plain()
    p.x = 1
    had_dict = _core.objgraph_existing_dict(p) is not None  # 3.10: always; 3.11+: no
    objgraph.show_refs([fn, p], output=io.StringIO(), max_depth=2)
    objgraph.show_backrefs([p], output=io.StringIO(), max_depth=2)
    own = (fn.__globals__, getattr(fn, "__builtins__", None))
    assert not any(isinstance(r, dict) and not any(r is o for o in own)
                   for r in gc.get_referents(fn))
    assert _core.objgraph_existing_dict(fn) is None
    assert (_core.objgraph_existing_dict(p) is not None) == had_dict


def test_output_and_filename_together_is_a_value_error():
    with pytest.raises(ValueError, match="Cannot specify both output and filename."):
        objgraph.show_refs([], output=io.StringIO(), filename="x.dot")


def test_is_proper_module():
    assert objgraph.is_proper_module(types)
    assert not objgraph.is_proper_module(types.ModuleType("nowhere"))
    assert not objgraph.is_proper_module([])
