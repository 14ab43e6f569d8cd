"""Shared fixtures: every test starts from a collected heap and leaves gc as it found it."""

import gc
import tracemalloc

import pytest


@pytest.fixture(autouse=True)
def _clean_gc_state():
    enabled = gc.isenabled()
    flags = gc.get_debug()
    tracing = tracemalloc.is_tracing()
    garbage = gc.garbage[:]
    del gc.garbage[:]
    gc.collect()
    yield
    gc.set_debug(flags)
    gc.garbage[:] = garbage
    if enabled:
        gc.enable()
    else:
        gc.disable()
    # A test that leaves tracemalloc on slows every later test many times over (pytester
    # sessions run in this process): fail it, and stop tracing.
    if tracemalloc.is_tracing() and not tracing:
        tracemalloc.stop()
        pytest.fail("the test left tracemalloc tracing")


class GarbageKeeper:
    """A gc callback that keeps the instances of one class that a collection put in
    gc.garbage: it runs before refscope's stop hook, which takes its entries out again, as
    a user's hook that holds on to garbage would."""

    def __init__(self, cls):
        self.cls = cls
        self.kept = []
        gc.callbacks.insert(0, self)

    def __call__(self, phase, info):
        if phase == "stop":
            self.kept.extend(o for o in gc.garbage if type(o) is self.cls)

    def stop(self):
        if self in gc.callbacks:
            gc.callbacks.remove(self)


@pytest.fixture
def keep_garbage():
    """``keep_garbage(cls)`` installs a :class:`GarbageKeeper`; all go at teardown."""
    keepers = []

    def install(cls):
        keepers.append(GarbageKeeper(cls))
        return keepers[-1]

    yield install
    for keeper in keepers:
        keeper.stop()
