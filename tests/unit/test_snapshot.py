"""refscope.snapshot(): the whole live heap, its roots, retained sizes and files."""

from __future__ import annotations

import atexit
import gc
import json
import subprocess
import sys
import textwrap
import weakref

import pytest

import refscope
from refscope.snapshot import Snapshot


class Marker:
    pass


class Holder:
    def __init__(self) -> None:
        self.child = Child()


class Child:
    def __init__(self) -> None:
        self.items = [Item() for _ in range(5)]


class Item:
    pass


# Held by this module's globals only.
HOLDER = Holder()


def _type_stat(snap: Snapshot, short_name: str):
    matches = [t for t in snap.top_types() if t.name.rsplit(".", 1)[-1] == short_name]
    assert len(matches) == 1, matches
    return matches[0]


def test_top_types_counts_200k_markers_with_their_sizes():
    markers = [Marker() for _ in range(200_000)]
    snap = refscope.snapshot()
    stat = _type_stat(snap, "Marker")
    assert stat.count == 200_000
    assert stat.size == 200_000 * sys.getsizeof(markers[0])
    assert stat.retained_size >= stat.size
    assert len(snap.by_type("Marker")) == 200_000
    assert id(markers[12345]) in set(snap.by_type("Marker"))
    del markers


def test_growth_sees_1000_new_objects_and_no_collection_runs():
    phases: list[str] = []

    def count(phase: str, info: dict[str, int]) -> None:
        phases.append(phase)

    def watched_snapshot() -> Snapshot:
        # Start from an empty young generation so only the snapshot's own work could
        # trigger a collection.
        gc.collect()
        gc.callbacks.append(count)
        try:
            return refscope.snapshot()
        finally:
            gc.callbacks.remove(count)

    class Growing:
        pass

    first = watched_snapshot()
    grown = [Growing() for _ in range(1000)]
    second = watched_snapshot()
    assert phases == []
    by_default = {g.name.rsplit(".", 1)[-1]: g for g in second.growth()}
    explicit = {g.name.rsplit(".", 1)[-1]: g for g in second.growth(first)}
    for growth in (by_default, explicit):
        assert growth["Growing"].increase == 1000
        assert growth["Growing"].count == 1000
        assert growth["Growing"].size_increase == 1000 * sys.getsizeof(grown[0])
    assert second.growth()[0].increase >= 1000
    del grown


def test_why_alive_names_the_global_and_every_attribute():
    snap = refscope.snapshot()
    item = HOLDER.child.items[3]
    chain = snap.why_alive(item)
    assert chain is not None
    assert chain.root.kind == "module"
    assert chain.root.label == f"module {__name__}"
    assert chain.text == f"module {__name__} → global HOLDER → .child → .items → [3]"
    # 3.10 keeps instance attributes in a real __dict__: the steps show it, the text
    # reads it as one attribute.
    assert chain.steps[0][0] == "global HOLDER"
    assert chain.steps[-1][:2] == ("[3]", id(item))
    assert chain.type.endswith("Item")
    # Queries by id work the same.
    assert snap.why_alive(id(item)) == chain


def test_reference_held_only_by_c_code_is_reported_as_held_from_outside():
    class Callback:
        def __call__(self) -> None:
            pass

    callback = Callback()
    atexit.register(callback)
    address = id(callback)
    del callback
    try:
        snap = refscope.snapshot()
        chain = snap.why_alive(address)
        assert chain is not None
        assert chain.root.kind == "held from outside"
        assert chain.root.id == address
        assert chain.outside_references == 1
        assert chain.references_found == 0
        assert chain.steps == []
        assert "1 reference held by C code" in str(chain)
        assert any(r.kind == "held from outside" and r.id == address for r in snap.roots())
    finally:
        atexit.unregister(snap_callback_of(address))


def snap_callback_of(address: int) -> object:
    for obj in gc.get_objects():
        if id(obj) == address:
            return obj
    raise AssertionError("callback vanished")


def test_retained_size_of_a_holder_covers_what_only_it_holds():
    class Owner:
        pass

    owner = Owner()
    owner.payload = bytearray(100_000)
    owner.names = [f"name-{i}-{id(owner)}" for i in range(100)]
    only_its = (
        sys.getsizeof(owner.payload)
        + sys.getsizeof(owner.names)
        + sum(sys.getsizeof(n) for n in owner.names)
    )
    snap = refscope.snapshot()
    assert snap.retained_size(owner) >= sys.getsizeof(owner) + only_its
    assert snap.retained_size(owner.payload) == sys.getsizeof(owner.payload)
    # On 3.10 the attribute lives in the instance's real __dict__, which dominates it.
    holder = owner.__dict__ if sys.version_info < (3, 11) else owner
    assert snap.dominator(owner.payload) == id(holder)
    largest = snap.largest_retainers(1000)
    assert id(owner) in {r.id for r in largest}


def test_shallow_sizes_are_what_sys_getsizeof_says():
    class Plain:
        pass

    class Slotted:
        __slots__ = ("a", "b")

    class BigInt(int):
        pass

    def function() -> None:
        pass

    samples = [
        [1, 2, 3],
        {"a": 1, "b": [2]},
        "some text é",
        "ascii",
        10**40,
        0,
        (1, "x", None),
        {1, 2, 3},
        frozenset({4}),
        b"bytes" * 10,
        bytearray(b"x" * 100),
        1.5,
        Plain(),
        Slotted(),
        BigInt(12),
        function,
        Plain,
    ]
    snap = refscope.snapshot()
    for obj in samples:
        assert snap.shallow_size(id(obj)) == sys.getsizeof(obj), obj


class _Pair:
    __slots__ = ("a", "b")

    def __init__(self) -> None:
        self.a = 7
        self.b = ()


def test_every_object_is_one_node_statically_allocated_ones_included():
    # Enough small, dense objects for the walk's paged address index; each refers to a
    # small int and the empty tuple, which 3.11+ allocate statically (8-byte aligned,
    # unlike heap objects): every reference must reach the same node.
    pairs = [_Pair() for _ in range(500_000)]
    snap = refscope.snapshot()
    core = snap._core
    addresses = [core.address(node) for node in range(core.node_count)]
    assert len(set(addresses)) == len(addresses)
    for obj in (7, ()):
        node = core.node_of(id(obj))
        assert node is not None
        assert core.reference_counts(node).found >= len(pairs)
    del pairs


def test_a_python_sizeof_is_never_called():
    calls = []

    class Lying:
        def __sizeof__(self) -> int:
            calls.append(1)
            return 10**9

    lying = Lying()
    snap = refscope.snapshot()
    assert calls == []
    assert snap.shallow_size(lying) < 1000


def test_save_then_load_gives_the_same_answers(tmp_path):
    snap = refscope.snapshot()
    path = tmp_path / "heap.rscp"
    snap.save(path)
    loaded = refscope.load(path)
    item = HOLDER.child.items[2]
    assert loaded.object_count == snap.object_count
    assert loaded.reference_count == snap.reference_count
    assert loaded.top_types() == snap.top_types()
    assert loaded.why_alive(id(item)) == snap.why_alive(item)
    assert loaded.retained_size(id(HOLDER)) == snap.retained_size(HOLDER)
    assert loaded.roots() == snap.roots()
    assert loaded.python_version == sys.version
    # A few bytes per object and per reference.
    assert path.stat().st_size < 12 * snap.object_count + 6 * snap.reference_count


@pytest.mark.parametrize("fault", ["empty", "truncated", "bit flip", "foreign", "newer"])
def test_corrupt_files_are_refused_with_a_clear_error(tmp_path, fault):
    good = tmp_path / "good.rscp"
    refscope.snapshot().save(good)
    data = bytearray(good.read_bytes())
    if fault == "empty":
        data = bytearray()
    elif fault == "truncated":
        data = data[: len(data) // 2]
    elif fault == "bit flip":
        data[len(data) // 3] ^= 0x10
    elif fault == "foreign":
        data = bytearray(json.dumps({"snapshot": {}}).encode())
    elif fault == "newer":
        data[8] = 99
    bad = tmp_path / "bad.rscp"
    bad.write_bytes(bytes(data))
    expected = {
        "empty": "empty",
        "truncated": "truncated",
        "bit flip": "checksum",
        "foreign": "not a refscope snapshot",
        "newer": "newer refscope",
    }[fault]
    with pytest.raises(ValueError, match=expected) as raised:
        refscope.load(bad)
    assert str(bad) in str(raised.value)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(OSError):
        refscope.load(tmp_path / "missing.rscp")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="inline attributes are 3.11+")
def test_no_instance_dict_is_materialised():
    holder = Holder()
    assert not any(isinstance(r, dict) for r in gc.get_referents(holder))
    snap = refscope.snapshot()
    chain = snap.why_alive(holder.child)
    assert chain is not None
    assert chain.steps[-1][0] == ".child"
    snap.top_types()
    snap.export_heapsnapshot(_devnull_path())
    assert not any(isinstance(r, dict) for r in gc.get_referents(holder))
    assert not any(isinstance(r, dict) for r in gc.get_referents(HOLDER))


def _devnull_path() -> str:
    return "/dev/null"


def test_snapshot_leaves_no_objects_or_garbage_behind():
    sample = [object() for _ in range(10)]
    refcounts = [sys.getrefcount(o) for o in sample]
    gc.collect()
    snap = refscope.snapshot()
    alive = weakref.ref(Holder)  # any object: the snapshot holds no references
    assert [sys.getrefcount(o) for o in sample] == refcounts
    del snap
    assert gc.collect() == 0
    assert gc.garbage == []
    assert alive() is Holder


def test_immortal_objects_are_a_root_category_of_their_own():
    snap = refscope.snapshot()
    kinds = {r.kind for r in snap.roots() if r.id == id(None)}
    if sys.version_info >= (3, 12):
        assert kinds == {"immortal"}
    else:
        assert "immortal" not in {r.kind for r in snap.roots()}


def test_thread_frames_are_named_roots():
    local_only = [Marker()]
    snap = refscope.snapshot()
    chain = snap.why_alive(local_only)
    assert chain is not None
    assert chain.root.kind == "thread"
    assert "MainThread" in chain.root.label
    assert "test_thread_frames_are_named_roots()" in chain.root.label
    del local_only


def test_cycle_groups_and_diff_see_a_new_cycle():
    class RingNode:
        pass

    before = refscope.snapshot()
    a, b = RingNode(), RingNode()
    a.other, b.other = b, a
    after = refscope.snapshot()
    groups = [g for g in after.cycle_groups() if "RingNode" in g.signature]
    assert groups and groups[0].components >= 1
    assert id(a) in groups[0].example_ids or id(b) in groups[0].example_ids
    diff = after.diff(before)
    assert any("RingNode" in g.signature for g in diff.new_cycle_groups)
    added = {t.name.rsplit(".", 1)[-1]: t for t in diff.types}
    assert added["RingNode"].added == 2
    assert diff.added >= 2
    del a, b


def test_an_int_argument_always_means_an_id():
    snap = refscope.snapshot()
    value = 123_456_789_123
    with pytest.raises(KeyError):
        snap.retained_size(value)
    assert snap.retained_size(id(HOLDER)) == snap.retained_size(HOLDER)


def test_hostile_heap_is_walked_without_crashing(tmp_path):
    script = textwrap.dedent(
        f"""
        import gc, sys, weakref, refscope
        ARMED = False

        class Meta(type):
            def __getattribute__(cls, name):
                if ARMED: raise RuntimeError("metaclass lookup ran")
                return type.__getattribute__(cls, name)
            @property
            def __module__(cls):
                if ARMED: raise RuntimeError("module ran")
                return "hostile"

        class Hostile(metaclass=Meta):
            def __getattr__(self, name):
                if ARMED: raise RuntimeError("getattr ran")
                raise AttributeError(name)
            def __eq__(self, other):
                if ARMED: raise RuntimeError("eq ran")
                return self is other
            def __hash__(self):
                if ARMED: raise RuntimeError("hash ran")
                return 1
            def __repr__(self):
                if ARMED: raise RuntimeError("repr ran")
                return "hostile"
            def __sizeof__(self):
                if ARMED: raise RuntimeError("sizeof ran")
                return 8

        class Target:
            pass

        target = Target()
        dead = weakref.proxy(target)
        del target
        hostile = [Hostile() for _ in range(10)]
        keyed = {{Hostile(): 1}}
        def gen():
            x = [1, 2]
            yield x
        g = gen(); next(g)
        class Finalised:
            def __del__(self):
                if ARMED: raise RuntimeError("del ran")
        f = Finalised(); f.self = f; del f
        gc.disable()  # the garbage cycle above must not be collected by anyone else
        ARMED = True
        snap = refscope.snapshot()
        snap.top_types(); snap.cycle_groups(); snap.largest_retainers(5)
        snap.why_alive(hostile[3])
        snap.save({str(tmp_path / "h.rscp")!r})
        snap.export_heapsnapshot({str(tmp_path / "h.heapsnapshot")!r})
        refscope.load({str(tmp_path / "h.rscp")!r})
        ARMED = False
        print("ok", snap.object_count)
        """
    )
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-X", "faulthandler", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok ")
    assert "ran" not in result.stderr


# -- bytes, baselines and the dominator tree ---------------------------------------------


def test_to_bytes_gives_the_files_that_save_and_export_write(tmp_path):
    snap = refscope.snapshot()
    saved, exported = tmp_path / "heap.rscp", tmp_path / "heap.heapsnapshot"
    snap.save(saved)
    snap.export_heapsnapshot(exported)
    assert snap.to_bytes() == saved.read_bytes()
    assert snap.to_bytes("heapsnapshot") == exported.read_bytes()
    copy = tmp_path / "copy.rscp"
    copy.write_bytes(snap.to_bytes("refscope"))
    assert refscope.load(copy).top_types(5) == snap.top_types(5)
    assert json.loads(snap.to_bytes("heapsnapshot"))["snapshot"]["node_count"] == len(snap) + 1
    with pytest.raises(ValueError, match="'refscope' or 'heapsnapshot'"):
        snap.to_bytes("json")


def test_a_snapshot_that_is_not_a_baseline_leaves_growth_as_it_was():
    first = refscope.snapshot()
    markers = [Marker() for _ in range(1000)]
    aside = refscope.snapshot(baseline=False)
    assert {g.name: g.increase for g in aside.growth()}[f"{__name__}.Marker"] == 1000
    watcher = weakref.ref(aside)
    del aside
    assert watcher() is None  # nothing of refscope's keeps it
    markers += [Marker() for _ in range(500)]
    third = refscope.snapshot()
    # Compared with the first snapshot: the one taken aside did not become the baseline.
    assert {g.name: g.increase for g in third.growth()}[f"{__name__}.Marker"] == 1500
    assert {g.name: g.increase for g in third.growth(first)}[f"{__name__}.Marker"] == 1500
    del markers


def _tree_nodes(nodes, depth=0):
    for node in nodes:
        yield node, depth
        yield from _tree_nodes(node.children, depth + 1)


def test_dominator_tree_shows_the_largest_first_within_its_limits():
    holder = Holder()
    holder.payload = [bytearray(50_000) for _ in range(12)]
    snap = refscope.snapshot()
    tree = snap.dominator_tree(top=20, children=5, depth=6, max_nodes=120)
    nodes = list(_tree_nodes(tree))
    assert len(tree) <= 20 and len(nodes) <= 120
    assert max(depth for _, depth in nodes) < 6
    assert [n.retained_size for n in tree] == sorted((n.retained_size for n in tree),
                                                     reverse=True)
    assert [n.id for n in tree] == [r.id for r in snap.dominated(None, 20)]
    by_id = {node.id: node for node, _ in nodes}
    payload = by_id[id(holder.payload)]
    assert payload.type == "list" and len(payload.children) == 5
    assert all(child.type == "bytearray" and child.size == sys.getsizeof(bytearray(50_000))
               for child in payload.children)
    assert payload.truncated  # 12 items, 5 shown
    assert payload.retained_size == snap.retained_size(holder.payload)
    for node, _ in nodes:
        shown = node.size + sum(child.retained_size for child in node.children)
        assert node.truncated == (shown != node.retained_size)
        assert [c.id for c in node.children] == [
            r.id for r in snap.dominated(node.id, len(node.children))
        ]
    for bad in ({"top": 0}, {"children": -1}, {"depth": 1.5}, {"max_nodes": True}):
        with pytest.raises(ValueError, match="must be a positive int"):
            snap.dominator_tree(**bad)
