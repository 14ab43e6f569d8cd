"""pytest plugin: fail tests whose body creates reference cycles.

Enabled per run with ``--refscope`` (or ``refscope = true`` in the ini file), per test with
``@pytest.mark.no_cycles``. A checked test's call phase (the test function itself, not its
fixtures) runs inside :func:`refscope.capture`; if cycles became garbage meanwhile, the
test fails with the text report. Tests that fail, skip or xfail on their own are not
checked. Known cycles are tolerated with ``--refscope-allow=TYPE[,TYPE]``, the
``refscope_allow`` ini option, or ``@pytest.mark.no_cycles(allow=[...])``;
``@pytest.mark.allow_cycles`` exempts a test from ``--refscope``.

Nothing runs (no ``gc.collect()``, no gc hook) for a test that is not checked. Under
pytest-xdist every worker checks its own tests.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from ._capture import AllowList, Capture, _check

# Cycles every pytest run makes on its own: `with pytest.raises(E) as excinfo:` in a
# test makes excinfo -> exception -> traceback -> the test's frame -> excinfo.
DEFAULT_ALLOW = ("_pytest._code.code.ExceptionInfo",)

_failure_text_key = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("refscope", "reference cycles (refscope)")
    group.addoption(
        "--refscope",
        action="store_true",
        default=False,
        help="fail every test whose body creates reference cycles (objects on a cycle that "
        "became garbage while the test function ran)",
    )
    group.addoption(
        "--refscope-allow",
        action="append",
        default=[],
        metavar="TYPE[,TYPE...]",
        help="tolerate cycles through objects of these types, given as module.QualName or "
        "QualName (repeatable; adds to the refscope_allow ini option)",
    )
    parser.addini(
        "refscope",
        type="bool",
        default=False,
        help="check every test for reference cycles, like --refscope",
    )
    parser.addini(
        "refscope_allow",
        type="args",
        default=[],
        help="types whose cycles refscope tolerates (module.QualName or QualName)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "no_cycles(allow=()): fail this test if its body creates reference cycles "
        "(refscope); allow takes types, type names or predicates over a refscope.Cycle",
    )
    config.addinivalue_line(
        "markers", "allow_cycles: do not check this test for reference cycles under --refscope"
    )


def _check_every_test(config: pytest.Config) -> bool:
    return bool(config.getoption("refscope") or config.getini("refscope"))


def pytest_report_header(config: pytest.Config) -> str | None:
    if not _check_every_test(config):
        return None
    allowed = _configured_allow(config)
    return "refscope: every test is checked for reference cycles" + (
        f" (allowed: {', '.join(allowed)})" if allowed else ""
    )


def _configured_allow(config: pytest.Config) -> list[str]:
    names: list[str] = []
    for entry in [*config.getini("refscope_allow"), *config.getoption("refscope_allow")]:
        names.extend(name.strip() for name in entry.split(",") if name.strip())
    return names


def _allow_entries(item: pytest.Item) -> list[Any] | None:
    """What the check of ``item`` tolerates, or None when the item is not checked."""
    marker = item.get_closest_marker("no_cycles")
    if marker is None:
        if not _check_every_test(item.config) or item.get_closest_marker("allow_cycles"):
            return None
    entries: list[Any] = [*DEFAULT_ALLOW, *_configured_allow(item.config)]
    if marker is not None:
        allow = marker.kwargs.get("allow", ())
        if isinstance(allow, (str, type)) or callable(allow):
            allow = [allow]
        entries.extend(allow)
        entries.extend(marker.args)
    return entries


def _forget_last_failure() -> None:
    """Drop ``sys.last_exc`` & co. now, as pytest's own runtest_call does at its start.

    They hold the previous failed test's exception, whose traceback and frames are often
    cyclic; dropped inside the checked window, they would be blamed on this test.
    """
    for name in ("last_exc", "last_type", "last_value", "last_traceback"):
        if hasattr(sys, name):
            delattr(sys, name)


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item):  # type: ignore[no-untyped-def]
    entries = _allow_entries(item)
    if entries is None:
        yield
        return
    allow = AllowList(entries)
    _forget_last_failure()
    cap = Capture(keep_objects=allow.needs_objects)
    cap.__enter__()
    outcome = yield
    if outcome.excinfo is not None:
        cap.close(analyse=False)  # the test's own failure is the one to see
        return
    cap.close(analyse=True)
    error = _check(cap, allow, f"test {item.nodeid}")
    del cap
    if error is not None:
        item.stash[_failure_text_key] = str(error)
        outcome.force_exception(error)
    del error


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    if call.when != "call":
        return
    text = item.stash.get(_failure_text_key, None)
    if text is None:
        return
    del item.stash[_failure_text_key]
    report = outcome.get_result()
    # The report itself, not a traceback through pytest's and refscope's internals.
    report.longrepr = text
