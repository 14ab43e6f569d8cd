"""refscope.Monitor on real gc: sampling, gc.garbage and flags, the bounded aggregate."""

import gc
import sys
import threading
import weakref

import pytest

import refscope
from refscope._gc import _on_gc_start as _on_gc
from refscope.monitor import Monitor


class Parent:
    def __init__(self):
        self.child = Child(self)


class Child:
    def __init__(self, parent):
        self.parent = parent


class Finalised:
    def __init__(self):
        self.me = self

    def __del__(self):
        pass


def make_leaks(count):
    for _ in range(count):
        Parent()


def group_for(monitor, type_name):
    matches = [g for g in monitor.groups() if type_name in g.signature]
    assert len(matches) == 1, [g.signature for g in monitor.groups()]
    return matches[0]


def live_instances(cls):
    return sum(1 for obj in gc.get_objects() if type(obj) is cls)


@pytest.fixture
def monitor():
    mon = Monitor(max_overhead=None)
    yield mon
    mon.stop()


def test_collect_reports_each_leak_once_in_one_group(monitor):
    make_leaks(7)
    report = monitor.collect()
    assert report.collected >= 14
    groups = [g for g in refscope.monitor.report_groups(report) if "Parent" in g.signature]
    assert [g.count for g in groups] == [7]
    assert group_for(monitor, "test_monitor.Parent").count == 7


def test_a_second_collect_does_not_report_the_same_objects_again(monitor):
    make_leaks(3)
    monitor.collect()
    second = monitor.collect()
    assert second.collected == 0
    assert len(second) == 0
    assert group_for(monitor, "test_monitor.Parent").count == 3


def test_objects_analysed_are_not_kept_alive(monitor):
    make_leaks(5)
    monitor.collect()
    assert live_instances(Parent) == 0


def test_automatic_collections_are_sampled_while_running(monitor):
    gc.enable()
    monitor.start()
    make_leaks(1)
    # Allocate container cycles until gc has run a young collection by itself.
    before = monitor.stats().collections_sampled
    while monitor.stats().collections_sampled == before:
        make_leaks(1)
    monitor.stop()
    group = group_for(monitor, "test_monitor.Parent")
    assert group.count >= 1
    assert monitor.stats().errors == 0


def test_manual_collections_are_sampled_with_gc_disabled(monitor):
    gc.disable()
    monitor.start()
    make_leaks(4)
    gc.collect()
    monitor.stop()
    assert group_for(monitor, "test_monitor.Parent").count == 4


def test_gc_flags_and_the_users_garbage_are_restored(monitor):
    user_entry = object()
    gc.garbage.append(user_entry)
    gc.set_debug(gc.DEBUG_UNCOLLECTABLE)
    monitor.start()
    make_leaks(2)
    gc.collect()
    monitor.collect()
    assert gc.get_debug() == gc.DEBUG_UNCOLLECTABLE
    assert len(gc.garbage) == 1 and gc.garbage[0] is user_entry


def test_a_user_with_saveall_keeps_the_garbage_and_it_is_still_analysed(monitor):
    gc.set_debug(gc.DEBUG_SAVEALL)
    monitor.start()
    make_leaks(3)
    gc.collect()
    assert gc.get_debug() == gc.DEBUG_SAVEALL
    assert sum(1 for obj in gc.garbage if type(obj) is Parent) == 3
    assert group_for(monitor, "test_monitor.Parent").count == 3
    del gc.garbage[:]


def test_every_nth_candidate_is_sampled():
    mon = Monitor(every=3, generations=(0,), max_overhead=None).start()
    try:
        for _ in range(9):
            gc.collect(0)
            gc.collect(2)  # frees what the sample kept, so the next young one is a candidate
    finally:
        mon.stop()
    assert mon.stats().sampled_by_generation == (3, 0, 0)


def test_the_time_budget_skips_samples_once_spent():
    mon = Monitor(max_overhead=1e-9).start()
    try:
        for _ in range(5):
            make_leaks(1)
            gc.collect(0)
            gc.collect(2)
    finally:
        mon.stop()
    stats = mon.stats()
    assert stats.collections_sampled == 1
    assert stats.skipped_for_budget >= 4


def test_the_aggregate_keeps_max_groups_and_counts_the_evicted_as_other():
    mon = Monitor(max_groups=3, max_overhead=None)
    for length in range(1, 6):  # five shapes: rings of 1..5 lists
        for _ in range(length):
            ring = [[] for _ in range(length)]
            for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
                a.append(b)
            del ring, a, b
        mon.collect()
    groups = mon.groups()
    assert len(groups) == 3
    assert sorted(g.example_length for g in groups) == [3, 4, 5]
    assert mon.stats().other_count == 1 + 2


def test_start_and_stop_are_idempotent():
    mon = Monitor()
    mon.start()
    mon.start()
    assert gc.callbacks.count(_on_gc) == 1
    mon.stop()
    mon.stop()
    assert _on_gc not in gc.callbacks
    assert not mon.running


def test_two_monitors_sample_the_same_collection_without_taking_each_others_objects():
    first = Monitor(max_overhead=None).start()
    second = Monitor(max_overhead=None, frame_locals=True).start()
    try:
        make_leaks(3)
        gc.collect()
        make_leaks(2)
        report = second.collect()  # forced for the second; the first is due anyway
    finally:
        first.stop()
        second.stop()
    assert group_for(first, "test_monitor.Parent").count == 5
    assert group_for(second, "test_monitor.Parent").count == 5
    assert [g.count for g in refscope.monitor.report_groups(report)
            if "Parent" in g.signature] == [2]
    assert gc.garbage == [] and gc.get_debug() == 0
    assert _on_gc not in gc.callbacks


class Unreadable:
    def __bool__(self):
        raise RuntimeError("this flag cannot be read")


def test_an_analysis_error_is_counted_and_gc_state_restored():
    mon = Monitor(max_overhead=None).start()
    mon.frame_locals = Unreadable()  # reading the flag raises inside the sample: a real failure
    try:
        make_leaks(1)
        gc.collect()
    finally:
        mon.stop()
    stats = mon.stats()
    assert stats.errors == 1
    assert "cannot be read" in stats.last_error
    assert gc.get_debug() == 0
    assert gc.garbage == []


def test_a_stopped_monitor_leaves_no_cycle_of_its_own():
    gc.disable()
    mon = Monitor().start()
    make_leaks(1)
    gc.collect()
    mon.collect()
    mon.stop()
    ref = weakref.ref(mon)
    del mon
    assert ref() is None


def test_threads_reading_the_aggregate_while_gc_samples_see_no_errors(monitor):
    gc.enable()
    monitor.start()
    stop = threading.Event()
    failures = []

    def reader():
        while not stop.is_set():
            try:
                monitor.groups()
                monitor.stats()
                monitor.to_text()
            except Exception as error:  # pragma: no cover - reported below
                failures.append(error)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    for _ in range(20000):
        make_leaks(1)
    stop.set()
    for thread in threads:
        thread.join()
    monitor.stop()
    monitor.collect()
    assert failures == []
    assert monitor.stats().errors == 0
    assert gc.get_debug() == 0 and gc.garbage == []
    assert group_for(monitor, "test_monitor.Parent").count >= 1


def test_finalisers_run_once_and_the_group_says_so(monitor):
    Finalised()
    monitor.collect()
    group = group_for(monitor, "test_monitor.Finalised")
    assert group.has_finalizer
    assert live_instances(Finalised) == 0


def test_bad_arguments_are_rejected_with_their_name():
    with pytest.raises(ValueError, match="every"):
        Monitor(every=0)
    with pytest.raises(ValueError, match="max_overhead"):
        Monitor(max_overhead=2)
    with pytest.raises(ValueError, match="generations"):
        Monitor(generations=(3,))
    with pytest.raises(ValueError, match="max_groups"):
        Monitor(max_groups=0)


class RingLink:
    __slots__ = ("next", "__weakref__")


def test_a_sampled_ring_of_a_million_objects_is_one_bounded_group():
    """The Monitor keeps records, not the objects' descriptions: a million-object ring
    becomes one group of count 1 with a short example, and the sample allocates only a
    bounded number of Python objects."""
    gc.disable()
    mon = Monitor(max_overhead=None).start()
    try:
        first = RingLink()
        link = first
        for _ in range(999_999):
            link.next = RingLink()
            link = link.next
        link.next = first
        del first, link
        before = sys.getallocatedblocks()
        gc.collect()  # the sampled collection (the ring is freed by the next one)
        allocated = sys.getallocatedblocks() - before
        gc.collect()
    finally:
        mon.stop()
        gc.enable()
    (group,) = [g for g in mon.groups() if "RingLink" in g.signature]
    assert group.count == 1
    assert group.example_length == 1_000_000
    assert 0 < len(group.example) <= 20
    # The million links themselves are still allocated (kept for the analysis until the
    # next collection); what the sample itself made must stay in the thousands.
    assert allocated < 5_000, allocated


def collections_examined(action):
    """The collections that ran during `action()`, as (generation, collected) pairs."""
    seen = []

    def record(phase, info):
        if phase == "stop":
            seen.append((info["generation"], info["collected"]))

    gc.callbacks.insert(0, record)
    try:
        action()
    finally:
        gc.callbacks.remove(record)
    return seen


def test_a_sampled_collection_frees_its_garbage_as_the_unsampled_one_would(monitor):
    gc.disable()
    gc.collect()
    monitor.start()
    make_leaks(4)
    probes = [weakref.ref(obj) for obj in gc.get_objects() if type(obj) is Parent]
    gc.collect()
    # Freed by the sampled collection itself, not left for the next one to find.
    assert all(probe() is None for probe in probes)
    assert live_instances(Parent) == 0 and live_instances(Child) == 0
    assert collections_examined(gc.collect) == [(2, 0)]
    monitor.stop()
    assert group_for(monitor, "test_monitor.Parent").count == 4
    assert gc.garbage == [] and gc.get_debug() == 0


def test_a_sample_leaves_garbage_something_else_holds_intact_and_never_reports_it_again(
    monitor, keep_garbage
):
    gc.disable()
    gc.collect()
    monitor.start()
    keeper = keep_garbage(Parent)
    make_leaks(3)
    gc.collect()
    keeper.stop()
    assert len(keeper.kept) == 3
    # Not cleared: each parent still refers to its child, which refers back.
    assert all(parent.child.parent is parent for parent in keeper.kept)
    assert group_for(monitor, "test_monitor.Parent").count == 3
    keeper.kept.clear()  # garbage again: the next collection frees it, unreported
    gc.collect()
    assert live_instances(Parent) == 0
    monitor.stop()
    assert group_for(monitor, "test_monitor.Parent").count == 3


def test_garbage_a_capture_also_wants_is_left_for_the_capture(monitor):
    gc.disable()
    gc.collect()
    monitor.start()
    with refscope.capture(keep_objects=True) as cap:
        make_leaks(2)
        gc.collect()  # sampled by the monitor and seen by the capture
    monitor.stop()
    # The monitor did not clear them: the capture's report still shows whole cycles.
    (group,) = [g for g in refscope.monitor.report_groups(cap.report) if "Parent" in g.signature]
    assert group.count == 2
    for cycle in cap.report.cycles:
        parent = next(obj for obj in cycle.objects if type(obj) is Parent)
        assert parent.child.parent is parent
    assert group_for(monitor, "test_monitor.Parent").count == 2
