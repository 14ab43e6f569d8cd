"""find_cycles / find_circular_references on real objects: completeness, labels, safety."""

import gc
import random
import sys
import types

import pytest

import refscope


def referents_contain(source, target):
    """`source` refers to `target` directly, or through its own instance ``__dict__``
    (labelling an attribute edge on CPython 3.11+ materialises that dict; documented)."""
    refs = gc.get_referents(source)
    if any(r is target for r in refs):
        return True
    if isinstance(source, type) or not hasattr(type(source), "__dict__"):
        return False
    own_dict = object.__getattribute__(source, "__dict__") if hasattr(source, "__dict__") else None
    return (
        isinstance(own_dict, dict)
        and any(r is own_dict for r in refs)
        and any(r is target for r in gc.get_referents(own_dict))
    )


def assert_real_cycle(objects):
    """Each object refers to the next, the last to the first."""
    for i, obj in enumerate(objects):
        nxt = objects[(i + 1) % len(objects)]
        assert referents_contain(obj, nxt), f"{type(obj)} does not refer to {type(nxt)}"


class Node:
    pass


class Slotted:
    __slots__ = ("peer", "other")


class Finalised:
    def __del__(self):
        pass


def only_cycle(objects):
    report = refscope.find_cycles(objects)
    assert len(report) == 1, report.to_text()
    cycle = report.cycles[0]
    assert_real_cycle(cycle.objects)
    return cycle


# --- labels, one test per kind -----------------------------------------------------------


def test_instance_attribute_edges_are_labelled_with_the_attribute_name():
    a, b = Node(), Node()
    a.partner, b.owner = b, a
    cycle = only_cycle([a, b])
    assert sorted(cycle.labels) == [".owner", ".partner"]


def test_slots_edges_are_labelled_with_the_slot_name():
    a, b = Slotted(), Slotted()
    a.peer, b.other = b, a
    cycle = only_cycle([a, b])
    assert sorted(cycle.labels) == [".other", ".peer"]


def test_dict_values_are_labelled_with_their_str_or_int_key():
    d1, d2 = {}, {}
    d1["child"] = d2
    d2[42] = d1
    cycle = only_cycle([d1, d2])
    assert sorted(cycle.labels) == ["['child']", "[42]"]


def test_dict_keys_are_labelled_as_keys():
    holder = {}
    key = Node()  # a key that refers back to the dict
    key.table = holder
    holder[key] = None
    cycle = only_cycle([holder, key])
    assert sorted(cycle.labels) == ["(key <test_find_cycles.Node>)", ".table"]


def test_list_and_tuple_items_are_labelled_with_their_index():
    lst = [None, None, None]
    tup = (0, lst)
    lst[2] = tup
    cycle = only_cycle([lst, tup])
    assert sorted(cycle.labels) == ["[1]", "[2]"]


def test_closure_edges_name_the_captured_variable():
    def make():
        box = {}

        def handler():
            return box

        box["callback"] = handler
        return box

    box = make()
    handler = box["callback"]
    cycle = only_cycle([box, handler, handler.__closure__, handler.__closure__[0]])
    assert ".__closure__" in cycle.labels
    assert "[0] closure var box" in cycle.labels
    assert ".cell_contents" in cycle.labels
    assert "['callback']" in cycle.labels


def test_bound_method_stored_on_its_own_object_is_labelled_self():
    obj = Node()
    obj.callback = obj.method = None
    obj.callback = types.MethodType(lambda self: None, obj)
    cycle = only_cycle([obj, obj.callback])
    assert sorted(cycle.labels) == [".__self__", ".callback"]


def test_bound_method_func_edge_is_labelled_func():
    def fn(self):
        return None

    obj = Node()
    method = types.MethodType(fn, obj)
    fn.__dict__["bound"] = method  # function -> its __dict__ -> method -> __func__ -> function
    cycle = only_cycle([fn, fn.__dict__, method])
    assert ".__func__" in cycle.labels
    assert ".__dict__" in cycle.labels


def caught_exception_frame():
    try:
        raise KeyError("missing")
    except KeyError as error:
        caught = error
    return sys._getframe(), caught


def test_frame_cycle_labels_local_traceback_and_tb_frame():
    frame, exc = caught_exception_frame()
    cycle = only_cycle([frame, exc, exc.__traceback__])
    assert sorted(cycle.labels) == [".__traceback__", ".tb_frame", "local caught"]
    frame_entry = next(e for e in cycle.entries if e.kind == "frame")
    assert "caught_exception_frame" in frame_entry.description
    assert frame_entry.frame_stack[0][2].endswith("caught_exception_frame")
    assert ("caught", "KeyError exception: 'missing'") in frame_entry.frame_locals
    del frame, exc, cycle


def test_f_back_edges_are_labelled():
    def inner():
        return sys._getframe()

    def outer():
        frame = inner()
        return frame, sys._getframe()

    inner_frame, outer_frame = outer()
    # outer's frame holds `frame` (inner) as a local; inner refers to outer via f_back
    cycle = only_cycle([inner_frame, outer_frame])
    assert sorted(cycle.labels) == [".f_back", "local frame"]


def test_unknown_edges_print_a_question_mark_instead_of_guessing():
    import array  # an object whose references refscope has no name for: none; use a set

    del array
    s = set()
    holder = Node()
    holder.items = s
    member = (holder,)
    s.add(member)
    cycle = only_cycle([s, holder, member])
    assert "{element}" in cycle.labels
    assert all(label for label in cycle.labels)


# --- structure -----------------------------------------------------------------------------


def test_a_self_reference_is_a_cycle_of_one():
    lst = []
    lst.append(lst)
    cycle = only_cycle([lst])
    assert cycle.objects == [lst]
    assert cycle.labels == ["[0]"]
    assert refscope.find_circular_references([lst]) == [[lst, lst]]


def test_several_components_are_each_reported_once_in_input_order():
    a, b = Node(), Node()
    a.x, b.x = b, a
    c = []
    c.append(c)
    d, e, f = {}, {}, {}
    d["e"], e["f"], f["d"] = e, f, d
    chain = [a]  # refers into a component but is not in a cycle
    report = refscope.find_cycles([chain, a, b, c, d, e, f])
    assert len(report) == 3
    assert [len(c) for c in report.cycles] == [2, 1, 3]
    assert [sorted(map(id, s)) for s in report.sccs] == [
        sorted([id(a), id(b)]),
        [id(c)],
        sorted([id(d), id(e), id(f)]),
    ]


def test_cycle_starts_at_the_object_with_a_finaliser():
    plain, fin = Node(), Finalised()
    plain.next, fin.next = fin, plain
    cycle = only_cycle([plain, fin])
    assert cycle.objects[0] is fin
    assert cycle.entries[0].has_finalizer
    assert cycle.has_finalizer
    assert "[__del__]" in refscope.find_cycles([plain, fin]).to_text(color=False)
    plain.next = fin.next = None


def test_the_representative_cycle_is_the_shortest_through_its_start():
    nodes = [Node() for _ in range(6)]
    for i, n in enumerate(nodes):
        n.next = nodes[(i + 1) % 6]
    nodes[2].shortcut = nodes[0]
    cycle = only_cycle(nodes)
    assert cycle.objects == nodes[:3]
    assert cycle.component_size == 6
    assert cycle.labels == [".next", ".next", ".shortcut"]


def test_objects_not_tracked_by_gc_and_duplicates_are_accepted():
    a = Node()
    a.me = a
    report = refscope.find_cycles([1, "text", None, 2.5, a, a, b"x"])
    assert report.analysed_count == 6
    assert len(report) == 1
    assert report.cycles[0].objects == [a]


def test_an_empty_list_has_no_cycles():
    report = refscope.find_cycles([])
    assert len(report) == 0
    assert report.cycles == []
    assert refscope.find_circular_references([]) == []
    assert "0 cycles" in report.to_text()


def test_any_iterable_is_accepted():
    a = []
    a.append(a)
    assert len(refscope.find_cycles(iter([a]))) == 1
    assert len(refscope.find_cycles(x for x in [a])) == 1
    assert len(refscope.find_cycles((a,))) == 1


def test_default_source_is_gc_garbage():
    a = []
    a.append(a)
    gc.garbage.append(a)
    try:
        assert refscope.find_circular_references() == [[a, a]]
        assert len(refscope.find_cycles()) == 1
    finally:
        gc.garbage.remove(a)


@pytest.mark.parametrize("bad", [3, 4.5, object(), None.__class__])
def test_non_iterable_input_raises_type_error_naming_the_argument(bad):
    with pytest.raises(TypeError, match="argument 'garbage' must be an iterable"):
        refscope.find_cycles(bad)
    with pytest.raises(TypeError, match="find_circular_references\\(\\) argument 'garbage'"):
        refscope.find_circular_references(bad)


def test_a_string_is_rejected_rather_than_analysed_character_by_character():
    with pytest.raises(TypeError, match="not str"):
        refscope.find_cycles("gc.garbage")


def test_a_ring_of_a_million_lists_is_one_cycle_without_recursion():
    n = 1_000_000
    nodes = [[None] for _ in range(n)]
    for i in range(n):
        nodes[i][0] = nodes[(i + 1) % n]
    limit = sys.getrecursionlimit()
    report = refscope.find_cycles(nodes, keep_objects=False)
    assert sys.getrecursionlimit() == limit
    assert len(report) == 1
    assert report.cycles[0].component_size == n
    assert len(report.cycles[0]) == n
    cycles = refscope.find_circular_references(nodes)
    assert len(cycles) == 1 and len(cycles[0]) == n + 1
    assert cycles[0][0] is cycles[0][-1]
    for node in nodes:
        node[0] = None


# --- completeness against a brute-force oracle on random graphs ----------------------------


def oracle_cyclic_components(objects):
    """Components with a cycle, by mutual reachability (quadratic, for small graphs)."""
    ids = {id(o): i for i, o in enumerate(objects)}
    succ = [[ids[id(r)] for r in gc.get_referents(o) if id(r) in ids] for o in objects]
    n = len(objects)
    reach = []
    for s in range(n):
        seen, stack = {s}, [s]
        while stack:
            for w in succ[stack.pop()]:
                if w not in seen:
                    seen.add(w)
                    stack.append(w)
        reach.append(seen)
    comps = set()
    for v in range(n):
        comp = frozenset(w for w in reach[v] if v in reach[w])
        if len(comp) > 1 or v in succ[v]:
            comps.add(comp)
    return comps


@pytest.mark.parametrize("seed", range(20))
def test_every_cyclic_component_of_a_random_object_graph_is_found(seed):
    rng = random.Random(seed)
    n = rng.randint(1, 60)
    objects = [[] if rng.random() < 0.5 else {} for _ in range(n)]
    for _ in range(rng.randint(0, 2 * n)):
        src, dst = rng.choice(objects), rng.choice(objects)
        if isinstance(src, list):
            src.append(dst)
        else:
            src[len(src)] = dst
    report = refscope.find_cycles(objects)
    ids = {id(o): i for i, o in enumerate(objects)}
    found = {frozenset(ids[id(o)] for o in scc) for scc in report.sccs}
    assert found == oracle_cyclic_components(objects)
    for cycle in report.cycles:
        assert_real_cycle(cycle.objects)
        assert "?" not in cycle.labels
    for o in objects:
        o.clear()


# --- safety --------------------------------------------------------------------------------

CALLS = []
ARMED = [False]


class Hostile:
    """Every special method that a careless tool might call records the call and raises."""

    def __repr__(self):
        if ARMED[0]:
            CALLS.append("__repr__")
            raise RuntimeError("__repr__ called")
        return "Hostile()"

    def __str__(self):
        if ARMED[0]:
            CALLS.append("__str__")
            raise RuntimeError("__str__ called")
        return "Hostile"

    def __eq__(self, other):
        if ARMED[0]:
            CALLS.append("__eq__")
            raise RuntimeError("__eq__ called")
        return self is other

    def __hash__(self):
        if ARMED[0]:
            CALLS.append("__hash__")
            raise RuntimeError("__hash__ called")
        return 1

    def __getattr__(self, name):
        if ARMED[0]:
            CALLS.append(f"__getattr__({name})")
            raise RuntimeError("__getattr__ called")
        raise AttributeError(name)

    def __len__(self):
        if ARMED[0]:
            CALLS.append("__len__")
            raise RuntimeError("__len__ called")
        return 0

    def __sizeof__(self):
        if ARMED[0]:
            CALLS.append("__sizeof__")
            raise RuntimeError("__sizeof__ called")
        return 0


class HostileAttribute(Hostile):
    def __getattribute__(self, name):
        if ARMED[0]:
            CALLS.append(f"__getattribute__({name})")
            raise RuntimeError("__getattribute__ called")
        return object.__getattribute__(self, name)


def test_no_user_special_method_runs_during_analysis():
    CALLS.clear()
    a, b = Hostile(), HostileAttribute()
    object.__setattr__(a, "peer", b)
    object.__setattr__(b, "peer", a)
    holder = {a: b}
    CALLS.clear()
    ARMED[0] = True
    try:
        report = refscope.find_cycles([a, b, holder])
        text = report.to_text()
        cycles = report.cycles
        refscope.find_circular_references([a, b, holder])
    finally:
        ARMED[0] = False
    assert CALLS == []
    assert len(cycles) == 1
    assert sorted(cycles[0].labels) == [".peer", ".peer"]
    assert "Hostile object" in text
    object.__setattr__(a, "peer", None)


def test_the_walk_does_not_materialise_instance_dicts_of_objects_off_cycles():
    if sys.version_info < (3, 11):
        pytest.skip("instance dicts are always materialised before 3.11")
    obj = Node()
    obj.value = []
    before = [type(r).__name__ for r in gc.get_referents(obj)]
    assert "dict" not in before
    refscope.find_cycles([obj, obj.value])
    after = [type(r).__name__ for r in gc.get_referents(obj)]
    assert after == before


class Parent:
    def __init__(self):
        self.child = Child(self)


class Child:
    def __init__(self, parent):
        self.parent = parent


def test_materialize_dicts_false_labels_attributes_set_by_methods_without_creating_dicts():
    parent = Parent()
    outsider = Node()
    outsider.me = outsider  # set from outside Node's code: no name to look up
    before = {id(o): [type(r).__name__ for r in gc.get_referents(o)] for o in (parent, outsider)}
    report = refscope.find_cycles([parent, parent.child, outsider], materialize_dicts=False)
    labels = sorted(sorted(c.labels) for c in report.cycles)
    after = {id(o): [type(r).__name__ for r in gc.get_referents(o)] for o in (parent, outsider)}
    assert after == before
    if sys.version_info >= (3, 11):
        assert labels == [[".child", ".parent"], ["?"]]
    else:  # 3.10: instance dicts always exist, so every attribute is found in them
        assert labels == [[".child", ".parent"], [".me"]]


def test_keep_objects_false_does_not_keep_the_analysed_objects_alive():
    import weakref

    a, b = Node(), Node()
    a.x, b.x = b, a
    probe = weakref.ref(a)
    report = refscope.find_cycles([a, b], keep_objects=False)
    assert report.cycles[0].objects is None
    with pytest.raises(ValueError, match="did not keep the analysed objects"):
        report.sccs  # noqa: B018
    del a, b
    gc.collect()
    assert probe() is None
    assert report.cycles[0].types == ["test_find_cycles.Node", "test_find_cycles.Node"]


def test_release_stops_keeping_objects_alive():
    import weakref

    a = Node()
    a.me = a
    probe = weakref.ref(a)
    report = refscope.find_cycles([a])
    del a
    gc.collect()
    assert probe() is not None
    report.release()
    gc.collect()
    assert probe() is None
    assert len(report) == 1


def test_refscope_leaves_no_reference_cycle_of_its_own():
    a, b = Node(), Node()
    a.x, b.x = b, a
    gc.collect()
    report = refscope.find_cycles([a, b])
    report.cycles  # noqa: B018
    report.to_text()
    refscope.find_circular_references([a, b])
    del report
    a.x = b.x = None
    flags = gc.get_debug()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        leftovers = [type(o).__name__ for o in gc.garbage]
    finally:
        gc.set_debug(flags)
        del gc.garbage[:]
    assert leftovers == []


def test_a_dead_weakref_proxy_in_garbage_is_described_safely():
    import weakref

    target = Node()
    proxy = weakref.proxy(target)
    holder = [proxy]
    holder.append(holder)
    del target
    gc.collect()
    report = refscope.find_cycles([holder, proxy])
    assert len(report) == 1
    assert "weakproxy" in report.to_text() or len(report.cycles[0]) == 1
