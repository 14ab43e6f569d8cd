"""Shared fixtures: every test starts from a collected heap and leaves gc as it found it."""

import gc

import pytest


@pytest.fixture(autouse=True)
def _clean_gc_state():
    enabled = gc.isenabled()
    flags = gc.get_debug()
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
