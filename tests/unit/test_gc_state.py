"""gc state belongs to the user: refscope's temporary changes (DEBUG_SAVEALL for one
collection, a freeze around a block) never become the user's, also across threads, and
refscope never pauses automatic collection."""

import gc
import os
import subprocess
import sys
import textwrap
import threading

import pytest

import refscope
from refscope import _gc


class Node:
    pass


class Loud:
    """A local whose __repr__ runs user code on purpose (repr_locals=True)."""

    def __init__(self, action):
        self.action = action

    def __repr__(self):
        return self.action()


def make_self_cycle():
    node = Node()
    node.me = node


def frame_cycle_holding(value):
    """A garbage frame cycle whose frame has ``value`` as a local."""

    def body():
        local = value  # noqa: F841 - the frame local shown with repr_locals
        frame = sys._getframe()  # noqa: F841 - frame -> its locals -> frame

    body()


def analyse_frame_cycle_with_repr(action):
    gc.disable()
    frame_cycle_holding(Loud(action))
    return refscope.collect(repr_locals=True)


# -- find_cycles leaves automatic gc alone (issue items 8 and 9) ---------------------------


def test_an_analysis_does_not_pause_automatic_gc():
    seen = []

    def record():
        seen.append(gc.isenabled())
        return "Loud()"

    gc.enable()
    frame_cycle_holding(Loud(record))
    report = refscope.collect(repr_locals=True)
    assert seen and all(seen), report.to_text(color=False)


def test_gc_disable_during_an_analysis_is_not_undone_by_it():
    def disable():
        gc.disable()  # as another thread may do while refscope analyses
        return "Loud()"

    gc.enable()
    frame_cycle_holding(Loud(disable))
    refscope.collect(repr_locals=True)
    assert not gc.isenabled()


def test_a_capture_in_another_thread_during_an_analysis_leaves_gc_enabled():
    entered = threading.Event()
    analysis_done = threading.Event()
    errors = []

    def capture_in_thread():
        try:
            with refscope.capture():
                entered.set()
                analysis_done.wait()
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
            entered.set()

    worker = threading.Thread(target=capture_in_thread)

    def start_capture_meanwhile():
        worker.start()
        entered.wait()
        return "Loud()"

    gc.enable()
    frame_cycle_holding(Loud(start_capture_meanwhile))
    refscope.collect(repr_locals=True)
    analysis_done.set()
    worker.join()
    assert errors == []
    assert gc.isenabled()


# -- a capture during another thread's sampled collection (item 7) -----------------------


class WaitsInFinaliser:
    """A cycle whose finaliser, in the collecting thread, releases the GIL and waits."""

    def __init__(self, in_finaliser, go):
        self.me = self
        self.in_finaliser = in_finaliser
        self.go = go

    def __del__(self):
        self.in_finaliser.set()
        self.go.wait(timeout=2.0)  # released by the main thread, or by the timeout


def test_a_capture_that_begins_during_a_monitor_sample_does_not_keep_debug_saveall():
    in_finaliser, go = threading.Event(), threading.Event()
    monitor = refscope.Monitor(max_overhead=None).start()
    try:
        gc.disable()
        WaitsInFinaliser(in_finaliser, go)
        collector = threading.Thread(target=gc.collect)
        collector.start()
        in_finaliser.wait()
        # The monitor's collection is running in `collector`, DEBUG_SAVEALL on for it.
        assert _gc.user_debug_flags() == 0
        with refscope.capture() as cap:
            go.set()
            make_self_cycle()
        collector.join()
    finally:
        go.set()
        monitor.stop()
    assert gc.get_debug() == 0
    assert gc.garbage == []
    assert len(cap.report) == 1
    make_self_cycle()
    gc.collect()
    assert gc.garbage == []  # no DEBUG_SAVEALL left behind: garbage is freed


def test_collect_during_another_threads_collection_waits_for_it_and_collects():
    in_finaliser, go = threading.Event(), threading.Event()
    monitor = refscope.Monitor(max_overhead=None).start()  # its hooks see the collection
    try:
        gc.disable()
        WaitsInFinaliser(in_finaliser, go)
        collector = threading.Thread(target=gc.collect)
        collector.start()
        in_finaliser.wait()
        make_self_cycle()
        go.set()
        report = refscope.collect()
        collector.join()
    finally:
        go.set()
        monitor.stop()
    # (The finaliser's cycle, kept by the monitor's sample, may be found again.)
    assert [f"{__name__}.Node"] in [cycle.types for cycle in report.cycles]
    assert gc.get_debug() == 0 and gc.garbage == []


# -- refscope inside a finaliser (item 17) ---------------------------------------------


class CallsRefscopeInDel:
    outcome: list = []

    def __init__(self, call):
        self.me = self
        self.call = call

    def __del__(self):
        try:
            result = self.call()
        except refscope.RefscopeError as error:
            # Not the error itself: its traceback would keep this object alive.
            CallsRefscopeInDel.outcome.append((type(error), str(error)))
        else:
            CallsRefscopeInDel.outcome.append((type(result), ""))


@pytest.mark.parametrize(
    "call",
    [refscope.collect, lambda: refscope.capture().__enter__()],
    ids=["collect", "capture"],
)
def test_refscope_called_from_a_finaliser_raises_instead_of_an_empty_report(call):
    CallsRefscopeInDel.outcome = []
    gc.disable()
    CallsRefscopeInDel(call)
    gc.collect()
    ((kind, message),) = CallsRefscopeInDel.outcome
    assert kind is refscope.CollectionInProgressError, kind
    assert "already running in this thread" in message
    assert gc.get_debug() == 0 and gc.garbage == []


def test_refscope_called_from_a_finaliser_inside_a_capture_raises_too():
    CallsRefscopeInDel.outcome = []
    with refscope.capture() as cap:
        CallsRefscopeInDel(refscope.collect)
        gc.collect()
    ((kind, _),) = CallsRefscopeInDel.outcome
    assert kind is refscope.CollectionInProgressError
    assert [cycle.types for cycle in cap.report.cycles] == [
        [f"{__name__}.CallsRefscopeInDel"]
    ]


# -- arguments (item 16) and interrupts from a user __repr__ (item 6) ---------------------


@pytest.mark.parametrize(
    "flag", ["keep_objects", "frame_locals", "repr_locals", "materialize_dicts"]
)
@pytest.mark.parametrize("value", [0, 1, "", "yes", None, [], [0]])
def test_find_cycles_reads_every_flag_by_truthiness(flag, value):
    node = Node()
    node.me = node
    report = refscope.find_cycles([node], **{flag: value})
    assert len(report) == 1
    if flag == "keep_objects":
        assert report.keeps_objects is bool(value)


@pytest.mark.parametrize("value", [0, 1, None, "x"])
def test_collect_capture_and_monitor_read_flags_by_truthiness(value):
    gc.disable()
    make_self_cycle()
    assert len(refscope.collect(keep_objects=value, frame_locals=value)) == 1
    with refscope.capture(keep_objects=value, frame_locals=value, new_objects_only=value) as cap:
        make_self_cycle()
    assert cap.report.keeps_objects is bool(value)
    assert refscope.Monitor(frame_locals=value).frame_locals is bool(value)
    with refscope.assert_no_cycles(frame_locals=value):
        pass


@pytest.mark.parametrize("limit", [2**63, 2**64, 10**30])
@pytest.mark.parametrize("method", ["to_text", "to_json", "to_dot"])
def test_out_of_range_limits_are_a_value_error_not_an_overflow(method, limit):
    node = Node()
    node.me = node
    report = refscope.find_cycles([node])
    with pytest.raises(ValueError):
        getattr(report, method)(max_groups=limit)


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_raised_by_a_user_repr_propagates(interrupt):
    def raise_it():
        raise interrupt("from __repr__")

    with pytest.raises(interrupt, match="from __repr__"):
        analyse_frame_cycle_with_repr(raise_it)


def test_an_interrupt_from_a_kept_reports_repr_propagates_when_it_is_described():
    def raise_it():
        raise KeyboardInterrupt("later")

    gc.disable()
    frame_cycle_holding(Loud(raise_it))
    gc.set_debug(gc.DEBUG_SAVEALL)
    gc.collect()
    gc.set_debug(0)
    garbage = gc.garbage[:]
    del gc.garbage[:]
    report = refscope.find_cycles(garbage, keep_objects=True, repr_locals=True)
    del garbage
    with pytest.raises(KeyboardInterrupt, match="later"):
        report.to_text()


def test_an_ordinary_exception_from_a_user_repr_is_still_shown_as_failed():
    def fail():
        raise ValueError("no")

    report = analyse_frame_cycle_with_repr(fail)
    assert "<repr failed: ValueError>" in report.to_text(color=False)


# -- the freeze of new_objects_only (for the pytest plugin) ------------------------------


class OldCycle:
    def __init__(self):
        self.me = self


def test_new_objects_only_does_not_report_old_garbage_the_block_releases():
    gc.disable()
    old = OldCycle()
    with refscope.capture(new_objects_only=True) as cap:
        del old  # the last reference to a cycle made before the block
        make_self_cycle()
    assert [cycle.types for cycle in cap.report.cycles] == [[f"{__name__}.Node"]]
    assert gc.get_freeze_count() == 0
    assert gc.collect() >= 1  # the old cycle is freed later, unreported


def test_without_new_objects_only_the_released_old_garbage_is_reported():
    gc.disable()
    old = OldCycle()
    with refscope.capture() as cap:
        del old
    assert [cycle.types for cycle in cap.report.cycles] == [[f"{__name__}.OldCycle"]]


def test_a_users_own_freeze_is_left_exactly_as_it_was():
    gc.disable()
    gc.freeze()
    frozen = gc.get_freeze_count()
    try:
        with refscope.capture(new_objects_only=True) as cap:
            make_self_cycle()
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
    assert len(cap.report) == 1


PERMANENT_GENERATION_PROBE = """
import gc, sys
from refscope import _core
def mortal():
    return _core.permanent_generation_mortal_count(gc.get_freeze_count())
at_start = (gc.get_freeze_count(), mortal())
gc.freeze()
after_user_freeze = (gc.get_freeze_count(), mortal())
print((at_start, after_user_freeze))
"""


def test_immortal_objects_gc_parks_in_the_permanent_generation_are_not_a_users_freeze():
    # CPython 3.12's update_refs moves immortal objects into the permanent generation
    # itself: the freeze count is non-zero at start-up, none of it the user's.
    result = subprocess.run(
        [sys.executable, "-c", PERMANENT_GENERATION_PROBE],
        capture_output=True, text=True, check=True,
    )
    (start_count, start_mortal), (frozen_count, frozen_mortal) = eval(result.stdout)
    if sys.version_info[:2] == (3, 12):
        assert start_count > 0 and start_mortal == 0
        assert 0 < frozen_mortal < frozen_count
    else:
        assert start_count == 0
        assert start_mortal is None and frozen_mortal is None
    assert frozen_count > start_count


def test_nested_new_objects_only_blocks_share_one_freeze():
    gc.disable()
    with refscope.capture(new_objects_only=True) as outer:
        count = gc.get_freeze_count()
        with refscope.capture(new_objects_only=True) as inner:
            make_self_cycle()
        assert gc.get_freeze_count() == count  # the inner block did not unfreeze
    assert gc.get_freeze_count() == 0
    assert len(inner.report) == 1 and len(outer.report) == 1


# -- many threads at once, for a while ---------------------------------------------------

STRESS = textwrap.dedent(
    """
    import gc, json, sys, threading, time
    import refscope
    from refscope import _core

    SECONDS = float(sys.argv[1])

    class Slow:
        # A cycle whose finaliser releases the GIL in the middle of a collection.
        def __init__(self):
            self.me = self
        def __del__(self):
            time.sleep(0.00005)

    class Sentinel:
        pass

    def churn():
        # Little garbage per step, and a pause: other threads allocate nothing while a
        # collection's finalisers run, so that collection stays short.
        for _ in range(3):
            Slow()
        node = []
        node.append(node)
        time.sleep(0.0005)

    user_garbage = [Sentinel()]
    gc.garbage[:] = user_garbage
    gc.set_debug(gc.DEBUG_UNCOLLECTABLE)
    gc.enable()
    gc.set_threshold(50, 5, 5)
    callbacks = list(gc.callbacks)
    errors = []
    counts = {"monitor": 0, "capture": 0, "find_cycles": 0, "collect": 0, "frozen": 0}
    deadline = time.monotonic() + SECONDS

    def run(name, step):
        try:
            while time.monotonic() < deadline:
                step()
                counts[name] += 1
        except BaseException as error:
            errors.append(f"{name}: {type(error).__name__}: {error}")

    monitor = refscope.Monitor(max_overhead=None)

    def monitor_step():
        with monitor:
            churn()
            gc.collect(0)
        monitor.collect()

    def capture_step():
        with refscope.capture():
            churn()

    def frozen_step():
        with refscope.capture(new_objects_only=True):
            churn()

    live = [Slow() for _ in range(50)]

    def find_cycles_step():
        churn()
        refscope.find_cycles(live, keep_objects=False)

    def collect_step():
        churn()
        refscope.collect()

    threads = [
        threading.Thread(target=run, args=(name, step))
        for name, step in [
            ("monitor", monitor_step),
            ("capture", capture_step),
            ("find_cycles", find_cycles_step),
            ("collect", collect_step),
            ("frozen", frozen_step),
        ]
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    monitor.stop()
    del live
    state = {
        "errors": errors,
        "counts": counts,
        "monitor_errors": monitor.stats().errors,
        "debug": gc.get_debug(),
        "enabled": gc.isenabled(),
        "garbage_is_users": len(gc.garbage) == 1 and gc.garbage[0] is user_garbage[0],
        "garbage_len": len(gc.garbage),
        "callbacks_unchanged": gc.callbacks == callbacks,
        # Frozen objects that are not the immortal ones CPython 3.12's collector parks
        # in the permanent generation itself.
        "frozen_by_someone": (
            _core.permanent_generation_mortal_count(gc.get_freeze_count())
            if sys.version_info[:2] == (3, 12)
            else gc.get_freeze_count()
        ),
    }
    gc.set_debug(0)
    churn()
    gc.collect()
    state["garbage_after_plain_collect"] = len(gc.garbage)
    print(json.dumps(state))
    """
)


def test_monitor_capture_collect_and_find_cycles_from_many_threads_leave_gc_as_the_user_set_it(
    tmp_path,
):
    script = tmp_path / "stress.py"
    script.write_text(STRESS)
    result = subprocess.run(
        [sys.executable, "-X", "dev", "-X", "faulthandler", str(script), "10"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    import json

    state = json.loads(result.stdout.strip().splitlines()[-1])
    assert state["errors"] == [], state
    assert state["monitor_errors"] == 0, state
    assert all(count > 0 for count in state["counts"].values()), state
    assert state["debug"] == gc.DEBUG_UNCOLLECTABLE, state
    assert state["enabled"] is True, state
    assert state["garbage_is_users"], state
    assert state["callbacks_unchanged"], state
    assert state["frozen_by_someone"] == 0, state
    assert state["garbage_after_plain_collect"] == 1, state
