"""refscope.capture(): the cycles that became garbage while a block ran, on real gc."""

import gc
import weakref

import pytest

import refscope


class Node:
    pass


class Other:
    pass


def make_self_cycle(cls=Node):
    node = cls()
    node.me = node
    return weakref.ref(node)


def make_pair():
    first, second = Node(), Node()
    first.partner, second.partner = second, first


def cycle_types(report):
    return sorted(tuple(cycle.types) for cycle in report.cycles)


def test_a_cycle_made_in_the_block_is_reported_with_its_edge_labels():
    with refscope.capture() as cap:
        make_self_cycle()
    assert len(cap.report) == 1
    assert cap.report.cycles[0].types == ["test_capture.Node"]
    assert cap.report.cycles[0].labels == [".me"]


def test_the_report_is_none_until_the_block_ends():
    with refscope.capture() as cap:
        assert cap.report is None
    assert cap.report is not None
    assert len(cap.report) == 0


def test_garbage_made_before_the_block_is_not_blamed_on_it():
    gc.disable()
    make_self_cycle(Other)  # unreachable, but not collected yet
    with refscope.capture() as cap:
        make_self_cycle(Node)
    assert cycle_types(cap.report) == [("test_capture.Node",)]


def test_an_object_made_before_the_block_and_dropped_in_it_counts():
    holder = [Node()]
    holder[0].me = holder[0]
    with refscope.capture() as cap:
        del holder[0]
    assert cycle_types(cap.report) == [("test_capture.Node",)]


def test_a_cycle_still_reachable_at_the_end_is_not_reported():
    with refscope.capture() as cap:
        kept = Node()
        kept.me = kept
    assert len(cap.report) == 0
    del kept


def test_cycles_freed_by_an_explicit_collection_inside_the_block_are_reported():
    with refscope.capture() as cap:
        alive = make_self_cycle()
        collected = gc.collect()
        # gc behaved as usual for the block: it found the cycle and cleared the weakref
        assert collected >= 1
        assert alive() is None
        make_pair()
    assert cycle_types(cap.report) == [
        ("test_capture.Node",),
        ("test_capture.Node", "test_capture.Node"),
    ]


def test_cycles_found_by_automatic_collections_are_all_reported():
    gc.enable()
    count = gc.get_threshold()[0] * 3  # enough allocations to trigger young collections
    collections_before = gc.get_stats()[0]["collections"]
    with refscope.capture() as cap:
        for _ in range(count):
            make_self_cycle()
        assert gc.get_stats()[0]["collections"] > collections_before
    assert len(cap.report) == count


def test_the_inner_capture_reports_its_block_and_the_outer_one_sees_both():
    with refscope.capture() as outer:
        make_self_cycle(Other)
        with refscope.capture() as inner:
            make_pair()
    assert cycle_types(inner.report) == [("test_capture.Node", "test_capture.Node")]
    assert cycle_types(outer.report) == [
        ("test_capture.Node", "test_capture.Node"),
        ("test_capture.Other",),
    ]


def test_gc_state_is_the_users_when_the_block_raises():
    sentinel = Other()
    gc.garbage.append(sentinel)
    gc.disable()
    gc.set_debug(gc.DEBUG_UNCOLLECTABLE)
    callbacks = list(gc.callbacks)
    with pytest.raises(KeyError):
        with refscope.capture() as cap:
            make_self_cycle()
            gc.collect()
            raise KeyError("the block failed")
    assert not gc.isenabled()
    assert gc.get_debug() == gc.DEBUG_UNCOLLECTABLE
    assert gc.garbage == [sentinel]
    assert gc.callbacks == callbacks
    assert len(cap.report) == 1  # the report is made even so
    gc.garbage.remove(sentinel)


def test_what_the_block_itself_sets_in_gc_is_kept_not_reverted():
    # refscope cannot tell the block's own changes from another thread's: it undoes only
    # its own (DEBUG_SAVEALL during a collection) and never writes a saved copy back.
    gc.disable()
    with refscope.capture() as cap:
        make_self_cycle()
        gc.enable()
        gc.set_debug(gc.DEBUG_UNCOLLECTABLE)
        gc.collect()
    assert gc.isenabled()
    assert gc.get_debug() == gc.DEBUG_UNCOLLECTABLE
    assert len(cap.report) == 1
    assert gc.garbage == []


def test_gc_garbage_is_untouched_during_the_block_after_a_collection():
    with refscope.capture():
        make_self_cycle()
        gc.collect()
        assert gc.garbage == []
        assert not gc.get_debug() & gc.DEBUG_SAVEALL


def test_a_caller_with_debug_saveall_gets_the_blocks_garbage_in_gc_garbage():
    gc.set_debug(gc.DEBUG_SAVEALL)
    with refscope.capture() as cap:
        make_self_cycle()
    assert len(cap.report) == 1
    assert any(type(obj) is Node for obj in gc.garbage)
    assert gc.get_debug() == gc.DEBUG_SAVEALL
    gc.set_debug(0)
    del gc.garbage[:]


def count_instances(cls):
    return sum(1 for obj in gc.get_objects() if type(obj) is cls)


def test_the_report_does_not_keep_the_objects_alive():
    gc.disable()
    with refscope.capture() as cap:
        make_self_cycle()
        make_pair()
    # Like refscope.collect(): freed before the block's exit returns, no collection needed
    # (gc is disabled; gc.get_objects() would still list them otherwise).
    assert count_instances(Node) == 0
    assert not cap.report.keeps_objects
    assert len(cap.report) == 2


def test_an_inner_capture_leaves_the_garbage_it_shares_for_the_outer_one():
    gc.disable()
    with refscope.capture() as outer:
        with refscope.capture() as inner:
            make_self_cycle()
        assert count_instances(Node) == 1  # the outer block still has it to analyse
    assert count_instances(Node) == 0
    assert len(inner.report) == 1 and len(outer.report) == 1


def test_keep_objects_keeps_them_until_released():
    with refscope.capture(keep_objects=True) as cap:
        make_self_cycle()
    gc.collect()
    assert [type(obj) for obj in cap.report.cycles[0].objects] == [Node]
    cap.report.release()
    gc.collect()
    assert count_instances(Node) == 0


def test_frame_locals_false_leaves_locals_out_of_the_report():
    def fail_and_keep():
        try:
            raise ValueError("token=secret")
        except ValueError as error:
            kept = error  # noqa: F841 - closes frame -> exception -> traceback -> frame

    with refscope.capture(frame_locals=False) as cap:
        fail_and_keep()
    frames = [e for c in cap.report.cycles for e in c.entries if e.kind == "frame"]
    assert frames and all(entry.frame_locals == () for entry in frames)
    with refscope.capture() as cap:
        fail_and_keep()
    frames = [e for c in cap.report.cycles for e in c.entries if e.kind == "frame"]
    assert any(name == "kept" for entry in frames for name, _ in entry.frame_locals)


def test_a_capture_object_is_used_for_one_block_only():
    cap = refscope.capture()
    with cap:
        pass
    with pytest.raises(RuntimeError, match="one block only"):
        with cap:
            pass


def test_progress_hears_each_stage_with_the_number_of_objects():
    heard = []
    with refscope.capture(progress=lambda stage, objects: heard.append((stage, objects))):
        make_pair()
    stages = [stage for stage, _ in heard]
    assert stages == ["collecting", "analysing", "analysed"]
    assert heard[1][1] >= 2


def test_refscope_collect_inside_a_capture_reports_and_the_capture_sees_it_too():
    with refscope.capture() as cap:
        make_self_cycle()
        report = refscope.collect()
        assert len(report) == 1
    assert len(cap.report) == 1


def test_capture_leaves_no_cycle_of_its_own_even_when_blocks_raise():
    with refscope.capture() as outer:
        for _ in range(3):
            with refscope.capture():
                pass
            try:
                with refscope.capture():
                    raise LookupError
            except LookupError:
                pass
    assert len(outer.report) == 0, outer.report.to_text(color=False)


def test_a_monitor_started_before_the_capture_still_sees_the_collection():
    monitor = refscope.Monitor(max_overhead=1.0).start()
    try:
        with refscope.capture() as cap:
            make_self_cycle()
            monitor.collect()
    finally:
        monitor.stop()
    assert len(cap.report) == 1
    assert any("test_capture.Node" in group.signature for group in monitor.groups())


def test_a_monitor_started_inside_the_capture_still_sees_the_collection():
    with refscope.capture() as cap:
        monitor = refscope.Monitor(max_overhead=1.0).start()
        try:
            make_self_cycle()
            monitor.collect()
        finally:
            monitor.stop()
    assert len(cap.report) == 1
    assert any("test_capture.Node" in group.signature for group in monitor.groups())
