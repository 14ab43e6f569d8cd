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
