"""refscope.collect(): a real collection, analysed, with gc state restored."""

import gc
import subprocess
import sys
import weakref

import pytest

import refscope


class Leaky:
    def __init__(self):
        self.me = self


class WithDel:
    def __init__(self):
        self.other = Partner(self)

    def __del__(self):
        pass


class Partner:
    def __init__(self, owner):
        self.owner = owner


def count_instances(cls):
    return sum(1 for o in gc.get_objects() if type(o) is cls)


def test_collect_reports_the_cycles_a_collection_found():
    for _ in range(3):
        Leaky()
    WithDel()
    report = refscope.collect()
    assert report.collected >= 5
    types = sorted(tuple(c.types) for c in report.cycles)
    assert ("test_collect.Leaky",) in types
    assert types.count(("test_collect.Leaky",)) == 3
    assert ("test_collect.WithDel", "test_collect.Partner") in types


def test_collect_restores_debug_flags_and_gc_garbage():
    sentinel = object()
    gc.garbage.append(sentinel)
    gc.set_debug(gc.DEBUG_STATS & 0)  # no flags
    Leaky()
    refscope.collect()
    assert gc.get_debug() == 0
    assert gc.garbage == [sentinel]
    gc.garbage.remove(sentinel)


def test_collect_keeps_the_garbage_in_gc_garbage_when_the_user_asked_for_saveall():
    gc.set_debug(gc.DEBUG_SAVEALL)
    Leaky()
    report = refscope.collect()
    assert gc.get_debug() == gc.DEBUG_SAVEALL
    assert any(type(o) is Leaky for o in gc.garbage)
    assert len(report) == 1
    gc.set_debug(0)
    del gc.garbage[:]


def test_analysed_objects_are_freed_before_collect_returns():
    Leaky()
    WithDel()
    report = refscope.collect()
    assert len(report) == 2
    assert not report.keeps_objects
    assert count_instances(Leaky) == 0
    assert count_instances(WithDel) == 0


def test_a_second_collect_does_not_report_the_same_objects_again():
    gc.disable()
    Leaky()
    assert len(refscope.collect()) == 1
    assert len(refscope.collect()) == 0


def test_kept_objects_are_freed_once_the_report_goes():
    Leaky()
    report = refscope.collect(keep_objects=True)
    (obj,) = report.cycles[0].objects
    probe = weakref.ref(obj)
    del obj
    gc.collect()
    assert probe() is not None
    del report
    gc.collect()
    assert probe() is None


def test_collect_works_with_gc_disabled_like_the_recipe_server():
    gc.disable()
    Leaky()
    report = refscope.collect()
    assert not gc.isenabled()
    assert len(report) == 1


def test_an_empty_collection_reports_nothing():
    # In a fresh interpreter: in this one, other tests' threads may make garbage meanwhile.
    code = (
        "import gc, refscope\n"
        "gc.collect()\n"
        "report = refscope.collect()\n"
        "print(len(report), report.collected, len(gc.garbage), gc.get_debug())\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["0", "0", "0", "0"]


# -- freeing the analysed garbage without a second full collection ------------------------


class Pair:
    pass


def make_pairs(count):
    probes = []
    for _ in range(count):
        a, b = Pair(), Pair()
        a.partner, b.partner = b, a
        probes.append(weakref.ref(a))
    return probes


def collections_during(action):
    starts = []

    def count(phase, info):
        if phase == "start":
            starts.append(info["generation"])

    gc.callbacks.append(count)
    try:
        result = action()
    finally:
        gc.callbacks.remove(count)
    return starts, result


def test_collect_frees_its_garbage_with_one_collection_when_nothing_else_holds_it():
    gc.disable()
    gc.collect()
    probes = make_pairs(50)
    finalised = []
    holder = WithDel()
    holder.note = finalised  # a finaliser that already ran must not run again
    del holder
    starts, report = collections_during(refscope.collect)
    assert starts == [2]  # the saving collection only: tp_clear freed the rest
    assert len(report) == 51
    assert all(probe() is None for probe in probes)
    assert count_instances(Pair) == 0 and count_instances(WithDel) == 0
    assert len(refscope.collect()) == 0


def test_garbage_someone_else_came_to_hold_is_not_cleared_and_a_collection_runs_instead(
    keep_garbage,
):
    gc.disable()
    gc.collect()
    keeper = keep_garbage(Pair)
    make_pairs(3)
    starts, report = collections_during(refscope.collect)
    keeper.stop()
    assert len(report) == 3
    assert starts == [2, 2]  # refused: the objects are held from outside, gc ran instead
    assert len(keeper.kept) == 6
    # Not cleared: each still refers to its partner.
    assert all(pair.partner.partner is pair for pair in keeper.kept)


def saved_garbage():
    """What a saving collection keeps, in a list of our own (gc.garbage left as it was)."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
    finally:
        gc.set_debug(0)
    found = gc.garbage[:]
    del gc.garbage[:]
    return found


def saved_pairs(count):
    """`count` pairs made garbage and kept by a saving collection, with gc off: weak
    references to one of each pair, and the garbage."""
    gc.disable()
    gc.collect()
    probes = make_pairs(count)
    return probes, saved_garbage()


def test_an_analysis_that_takes_the_garbage_empties_the_list_and_frees_it():
    probes, found = saved_pairs(20)
    # 40 instances, and on 3.10 their 40 instance dicts (3.11+ keeps attributes inline).
    objects = len(found)
    assert objects in (40, 80)
    analysis = refscope._core.analyze(found, keep_objects=False, free_garbage=True)
    assert found == []  # taken over once the analysis held the objects
    assert len(analysis) == 20 and analysis.garbage_freed == objects
    assert all(probe() is None for probe in probes)
    assert count_instances(Pair) == 0
    assert "Pair" in analysis.to_text()  # described before they went


def test_an_analysis_does_not_free_taken_garbage_that_something_else_holds():
    gc.disable()
    gc.collect()
    make_pairs(3)
    found = saved_garbage()
    objects = len(found)  # 6 instances (and their dicts on 3.10)
    outsider = next(obj for obj in found if type(obj) is Pair)
    analysis = refscope._core.analyze(found, keep_objects=False, free_garbage=True)
    assert found == [] and analysis.garbage_freed is None
    # Not cleared, and handed back once: the caller decides what becomes of them.
    unfreed = analysis.take_unfreed_garbage()
    assert len(unfreed) == objects and any(obj is outsider for obj in unfreed)
    assert analysis.take_unfreed_garbage() == []
    del unfreed
    # Still a pair; the collection frees the others, the held one survives.
    assert outsider.partner.partner is outsider
    assert gc.collect() == objects * 2 // 3
    assert outsider.partner.partner is outsider
    del outsider
    assert gc.collect() == objects // 3


def test_only_an_analysis_that_lets_its_objects_go_can_free_them():
    with pytest.raises(ValueError, match="keep_objects=False"):
        refscope._core.analyze([], keep_objects=True, free_garbage=True)
    plain = refscope._core.analyze([Leaky()], keep_objects=False)
    assert plain.garbage_freed is None


class Link:
    __slots__ = ("next",)


def test_freeing_taken_garbage_lets_chains_go_in_order_without_clearing_each():
    # A ring of links, each link also holding a tuple that holds the next tuple: gc's
    # delete_garbage clears the first link and the rest go by dealloc; the analysis
    # lets them go in the same order and must free every one, tuples included (they
    # have no tp_clear).
    gc.disable()
    gc.collect()
    links = [Link() for _ in range(20_000)]
    for i, link in enumerate(links):
        link.next = (links[(i + 1) % len(links)], [i])
    del links, link
    found = saved_garbage()
    objects = len(found)
    assert objects == 60_000  # per link: the link, its tuple and its list
    analysis = refscope._core.analyze(found, keep_objects=False, free_garbage=True)
    assert analysis.garbage_freed == objects
    assert count_instances(Link) == 0
    assert len(refscope.collect()) == 0


def test_the_garbage_moves_out_of_gc_garbage_without_touching_counts():
    items = [object() for _ in range(5)]
    source = list(items)
    counts = [sys.getrefcount(item) for item in items]
    taken = refscope._core.take_list_items(source)
    assert source == [] and taken == items
    assert [sys.getrefcount(item) for item in items] == counts  # moved, not copied
    source.append(1)  # the emptied list is a working list
    assert source == [1]
    del taken
    assert [sys.getrefcount(item) for item in items] == [c - 1 for c in counts]


def test_only_a_freeing_analysis_empties_its_list_and_repeats_in_it_are_freed_once():
    gc.disable()
    gc.collect()
    make_pairs(10)
    found = saved_garbage()
    objects = len(found)
    probe = next(obj for obj in found if type(obj) is Pair)
    before = sys.getrefcount(probe)
    analysis = refscope._core.analyze(found, keep_objects=True, free_garbage=False)
    assert len(found) == objects  # a plain analysis leaves the list as it was
    assert sys.getrefcount(probe) == before + 1
    del analysis
    assert sys.getrefcount(probe) == before
    with_dupes = found + found[:2]
    del found, probe
    analysis = refscope._core.analyze(with_dupes, keep_objects=False, free_garbage=True)
    # A list that holds an object twice cannot hand its references over: emptied anyway.
    assert with_dupes == [] and analysis.garbage_freed == objects
    assert count_instances(Pair) == 0


class Handler:
    """A handler whose bound method is stored on it, with its instance dict made."""

    def __init__(self):
        self.callback = self.on_done
        vars(self)  # 3.11+ would otherwise keep the attributes inline, without a dict

    def on_done(self):
        pass


def test_freeing_reads_counts_against_the_walk_when_nothing_ran_since():
    gc.disable()
    gc.collect()
    probes = make_pairs(50)
    handlers = [weakref.ref(Handler()) for _ in range(50)]
    found = saved_garbage()
    objects = len(found)
    analysis = refscope._core.analyze(found, keep_objects=False, free_garbage=True)
    assert analysis.garbage_freed == objects
    assert analysis.freed_on_walk_counts  # no thread, no Python code: no second traversal
    assert all(probe() is None for probe in probes + handlers)
    assert count_instances(Handler) == 0 and count_instances(Pair) == 0


def test_a_method_held_from_outside_through_a_folded_instance_dict_is_not_freed():
    # The handler's dict is folded into the handler: the walk sees the dict's references
    # twice (as the dict's and as its owner's). Counted twice, an outside reference to
    # each bound method would go unnoticed, and the handlers cleared under them.
    gc.disable()
    gc.collect()
    for _ in range(3):
        Handler()
    found = saved_garbage()
    objects = len(found)
    outsiders = [obj for obj in found if type(obj).__name__ == "method"]
    assert len(outsiders) == 3
    analysis = refscope._core.analyze(found, keep_objects=False, free_garbage=True)
    assert analysis.garbage_freed is None
    assert len(analysis.take_unfreed_garbage()) == objects
    assert all(method.__self__.callback == method for method in outsiders)  # not cleared
    del outsiders
    assert gc.collect() == objects


def test_an_instance_dict_held_elsewhere_keeps_its_owners_from_being_freed():
    # Objects that are not garbage at all: each instance's dict is also in `dicts`, so the
    # pair is reachable through it. Counting the dict's references as the owner's is
    # right only for a dict nothing else holds.
    a, b = Pair(), Pair()
    a.partner, b.partner = b, a
    dicts = [vars(a), vars(b)]
    objects = [a, b]
    del a, b  # held by `objects` (taken by the analysis) and through `dicts` only
    analysis = refscope._core.analyze(objects, keep_objects=False, free_garbage=True)
    assert not analysis.freed_on_walk_counts  # the dicts' holders are not in the graph
    if sys.version_info >= (3, 13):
        # 3.13 keeps the attributes inline when the dict is made, and the dict does not
        # refer to them (dict_traverse skips embedded values): gc itself frees such a
        # pair, and so does the check, traversing as gc does.
        assert analysis.garbage_freed == 2
        return
    assert analysis.garbage_freed is None
    a, b = analysis.take_unfreed_garbage()
    assert dicts[0]["partner"] is b and dicts[1]["partner"] is a  # not cleared


def test_with_another_thread_running_the_analysis_lets_go_of_the_gil_and_traverses_again():
    import threading

    probes, found = saved_pairs(20)
    objects = len(found)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        analysis = refscope._core.analyze(found, keep_objects=False, free_garbage=True)
    finally:
        stop.set()
        other.join()
    assert analysis.garbage_freed == objects
    assert not analysis.freed_on_walk_counts  # the GIL was let go: counts may be stale
    assert all(probe() is None for probe in probes)


def test_reading_frames_locals_after_the_walk_makes_the_freeing_traverse_again():
    gc.disable()
    gc.collect()

    def keep_the_exception():
        try:
            raise ValueError("kept")
        except ValueError as error:
            kept = error  # noqa: F841 - the frame <-> traceback cycle

    for _ in range(5):
        keep_the_exception()
    found = saved_garbage()
    objects = len(found)
    analysis = refscope._core.analyze(
        found, keep_objects=False, frame_locals=True, materialize_dicts=True, free_garbage=True
    )
    # 3.10-3.12 write the locals into the frame's dict when they are read.
    assert analysis.garbage_freed == objects
    assert not analysis.freed_on_walk_counts
    assert len(refscope.collect()) == 0
