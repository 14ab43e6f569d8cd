"""pytest plugin: fail tests whose body creates reference cycles.

Enabled per run with ``--refscope`` (or ``refscope = true`` in the ini file), per test with
``@pytest.mark.no_cycles``. A checked test's call phase (the test function itself, not its
fixtures) runs inside ``refscope.capture(new_objects_only=True)``: every object older than
the call is frozen out of the collector's view, so only cycles among objects the test
created count. If such cycles became garbage, the test fails with the text report.

Not the test's to fix, and so not failures by default: cycles made only of what a class
definition creates (listed as a note; ``--refscope-strict`` counts them), cycles whose
objects all belong to the test framework (pytest, pluggy, Hypothesis; more with
``--refscope-allow-module``), types given with ``--refscope-allow`` or the marker's
``allow=``, and with ``--refscope-baseline=FILE`` the groups that file lists for the test.
Cycles inside a third-party package are labelled with the package and the allow entry.

Uses only refscope's public API. Nothing runs (no collection, no gc hook) for a test that
is not checked. Under pytest-xdist every worker checks its own tests; the controller
aggregates the summary and the baseline from the test reports.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig
import tracemalloc
import types
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

import refscope

# Cycles every pytest run makes on its own: `with pytest.raises(E) as excinfo:` in a
# test makes excinfo -> exception -> traceback -> the test's frame -> excinfo.
DEFAULT_ALLOW = ("_pytest._code.code.ExceptionInfo",)
# Packages whose internal cycles are the test framework's, not the test's.
DEFAULT_ALLOW_MODULES = ("pytest", "_pytest", "pluggy", "hypothesis", "_hypothesis_globals")

_failure_text_key = pytest.StashKey[str]()
_PROPERTY = "refscope"  # user_properties entry carrying a test's findings to the controller

# What a class statement creates, and nothing else: a cycle whose strongly connected
# component holds only these (and at least one class) is a definition cycle.
_DEFINITION_TYPES: tuple[type, ...] = (
    dict,
    tuple,
    types.FunctionType,
    types.CellType,
    types.GetSetDescriptorType,
    types.MemberDescriptorType,
    types.WrapperDescriptorType,
    types.MethodDescriptorType,
    types.MappingProxyType,
    classmethod,
    staticmethod,
    property,
    weakref.ReferenceType,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("refscope", "reference cycles (refscope)")
    group.addoption(
        "--refscope",
        action="store_true",
        default=False,
        help="fail every test whose body creates reference cycles (objects created by the "
        "test function, on a cycle that became garbage while it ran)",
    )
    group.addoption(
        "--refscope-allow",
        action="append",
        default=[],
        metavar="TYPE[,TYPE...]",
        help="tolerate cycles through objects of these types, given as module.QualName or "
        "QualName (repeatable; adds to the refscope_allow ini option)",
    )
    group.addoption(
        "--refscope-allow-module",
        action="append",
        default=[],
        metavar="PKG[,PKG...]",
        help="tolerate cycles whose objects all belong to these packages (repeatable; adds "
        "to the refscope_allow_modules ini option and to the defaults: "
        + ", ".join(DEFAULT_ALLOW_MODULES) + ")",
    )
    group.addoption(
        "--refscope-strict",
        action="store_true",
        default=None,
        help="also fail on definition cycles (a class and what its definition creates), "
        "which are otherwise listed as a note",
    )
    group.addoption(
        "--refscope-baseline",
        default=None,
        metavar="FILE",
        help="fail a test only on cycle groups that FILE does not list for it",
    )
    group.addoption(
        "--refscope-update-baseline",
        action="store_true",
        default=False,
        help="write the --refscope-baseline FILE from this run's cycles (tests do not "
        "fail for cycles meanwhile)",
    )
    parser.addini(
        "refscope", type="bool", default=False,
        help="check every test for reference cycles, like --refscope",
    )
    parser.addini(
        "refscope_allow", type="args", default=[],
        help="types whose cycles refscope tolerates (module.QualName or QualName)",
    )
    parser.addini(
        "refscope_allow_modules", type="args", default=[],
        help="packages whose internal cycles refscope tolerates (besides the defaults)",
    )
    parser.addini(
        "refscope_strict", type="bool", default=False,
        help="fail on definition cycles too, like --refscope-strict",
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
    if config.getoption("refscope_update_baseline") and not config.getoption(
        "refscope_baseline"
    ):
        raise pytest.UsageError("--refscope-update-baseline needs --refscope-baseline=FILE")
    settings = _Settings(config)
    config.stash[_settings_key] = settings


class _Settings:
    """The run's configuration, read once."""

    def __init__(self, config: pytest.Config) -> None:
        self.every_test = bool(config.getoption("refscope") or config.getini("refscope"))
        self.allow = _split([*config.getini("refscope_allow"), *config.getoption("refscope_allow")])
        self.allow_modules = frozenset(
            [*DEFAULT_ALLOW_MODULES]
            + _split(
                [*config.getini("refscope_allow_modules"),
                 *config.getoption("refscope_allow_module")]
            )
        )
        strict = config.getoption("refscope_strict")
        self.strict = bool(strict if strict is not None else config.getini("refscope_strict"))
        baseline = config.getoption("refscope_baseline")
        self.baseline_path = Path(baseline) if baseline else None
        self.update_baseline = bool(config.getoption("refscope_update_baseline"))
        self.baseline: dict[str, set[str]] = {}
        if self.baseline_path is not None and not self.update_baseline:
            self.baseline = _read_baseline(self.baseline_path)
        self.rootdir = str(config.rootpath)
        self.summary = _Summary()


_settings_key = pytest.StashKey[_Settings]()


def _split(entries: Iterable[str]) -> list[str]:
    names: list[str] = []
    for entry in entries:
        names.extend(name.strip() for name in entry.split(",") if name.strip())
    return names


def _read_baseline(path: Path) -> dict[str, set[str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise pytest.UsageError(f"--refscope-baseline: cannot read {path}: {error}") from None
    tests = data.get("tests", {}) if isinstance(data, dict) else {}
    return {str(nodeid): set(map(str, keys)) for nodeid, keys in tests.items()}


def pytest_report_header(config: pytest.Config) -> str | None:
    settings = config.stash[_settings_key]
    if not settings.every_test:
        return None
    allowed = settings.allow
    return "refscope: every test is checked for reference cycles" + (
        f" (allowed: {', '.join(allowed)})" if allowed else ""
    )


def _allow_entries(item: pytest.Item, settings: _Settings) -> list[Any] | None:
    """What the check of ``item`` tolerates, or None when the item is not checked."""
    marker = item.get_closest_marker("no_cycles")
    if marker is None:
        if not settings.every_test or item.get_closest_marker("allow_cycles"):
            return None
    entries: list[Any] = [*DEFAULT_ALLOW, *settings.allow]
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


# -- where an object comes from ------------------------------------------------------------


def _module_of(obj: object) -> str | None:
    """The module an object belongs to, read without running user code: a class's own
    ``__module__`` (through ``type``'s descriptor), a function's, a frame's globals; for an
    instance of a class defined in Python, its class's. None for builtin containers."""
    # (A function's and a frame's globals are the module's dict, a real dict.)
    cls = type(obj)
    if isinstance(obj, type):
        module = type.__dict__["__module__"].__get__(obj, type)
    elif cls is types.FunctionType:
        # Where it was defined (functools.wraps copies __module__ from the wrapped one).
        module = obj.__globals__.get("__name__")  # type: ignore[attr-defined]
    elif cls is types.FrameType:
        module = obj.f_globals.get("__name__")  # type: ignore[attr-defined]
    elif cls is types.MethodType:
        return _module_of(obj.__func__)  # type: ignore[attr-defined]
    elif _TYPE_FLAGS(cls) & _HEAPTYPE:  # a class defined in Python
        module = type.__dict__["__module__"].__get__(cls, type)
    else:
        return None
    return module if isinstance(module, str) else None


# Read through type's own descriptor: a metaclass attribute cannot shadow it.
_TYPE_FLAGS = type.__dict__["__flags__"].__get__
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE (Include/object.h)


def _top_package(module: str) -> str:
    if module.startswith("hypothesis_temporary_module_"):  # Hypothesis compiles these
        return "hypothesis"
    return module.partition(".")[0]


class _Origins:
    """Which top-level packages are third-party (installed, outside the project)."""

    def __init__(self, rootdir: str) -> None:
        self.rootdir = os.path.realpath(rootdir)
        self.site = {
            os.path.realpath(path)
            for key in ("purelib", "platlib")
            if (path := sysconfig.get_paths().get(key))
        }
        self.cache: dict[str, bool] = {}

    def third_party(self, package: str) -> bool:
        known = self.cache.get(package)
        if known is None:
            module = sys.modules.get(package)
            filename = getattr(module, "__file__", None) if module is not None else None
            known = False
            if isinstance(filename, str):
                path = os.path.realpath(filename)
                known = any(path.startswith(site + os.sep) for site in self.site) and not (
                    path.startswith(self.rootdir + os.sep)
                    or os.path.isdir(os.path.join(self.rootdir, package))
                    or os.path.isdir(os.path.join(self.rootdir, "src", package))
                )
            self.cache[package] = known
        return known


_origins: _Origins | None = None


def _classify(members: list[object], settings: _Settings) -> tuple[str, str | None]:
    """What a strongly connected component is: ``("definition", None)``,
    ``("framework", None)``, ``("third-party", package)`` or ``("test", None)``."""
    global _origins
    has_class = False
    definition = True
    packages: set[str] = set()
    for obj in members:
        if isinstance(obj, type):
            has_class = True
        elif not isinstance(obj, _DEFINITION_TYPES):
            definition = False
        module = _module_of(obj)
        if module is not None:
            packages.add(_top_package(module))
    if definition and has_class:
        return "definition", None
    if packages and packages <= settings.allow_modules:
        return "framework", None
    if _origins is None or _origins.rootdir != os.path.realpath(settings.rootdir):
        _origins = _Origins(settings.rootdir)
    if len(packages) == 1:
        (package,) = packages
        if _origins.third_party(package):
            return "third-party", package
    return "test", None


# -- the check -----------------------------------------------------------------------------


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item):  # type: ignore[no-untyped-def]
    settings = item.config.stash[_settings_key]
    entries = _allow_entries(item, settings)
    if entries is None:
        yield
        return
    allow = refscope.AllowList(entries)
    _forget_last_failure()
    cap = refscope.capture(keep_objects=True, new_objects_only=True)
    cap.__enter__()
    outcome = yield
    if outcome.excinfo is not None:
        cap.close(analyse=False)  # the test's own failure is the one to see
        return
    cap.close(analyse=True)
    report = cap.report
    del cap
    error = _check(item, report, allow, settings)
    if error is not None:
        item.stash[_failure_text_key] = str(error)
        outcome.force_exception(error)
    del error, report


def _check(
    item: pytest.Item, report: Any, allow: Any, settings: _Settings
) -> refscope.CyclesFoundError | None:
    if report is None or not len(report):
        return None
    findings: dict[str, Any] = {"groups": {}}
    try:
        allowed = allow.allowed_indexes(report)
        kinds: dict[int, tuple[str, str | None]] = {}
        for index, members in enumerate(report.sccs):
            if index not in allowed:
                kinds[index] = _classify(members, settings)
            del members
    finally:
        report.release()
    baseline = settings.baseline.get(item.nodeid, set())
    offending: list[int] = []
    notes: list[str] = []
    third_party: dict[str, int] = {}
    definitions = 0
    for group in report.groups:
        indexes = group.cycle_indexes
        status = "new"
        if all(index in allowed for index in indexes):
            status = "allowed"
        else:
            group_kinds = {kinds[index] for index in indexes if index not in allowed}
            kind_names = {kind for kind, _ in group_kinds}
            if kind_names == {"definition"} and not settings.strict:
                status = "definition"
                definitions += group.count
            elif kind_names == {"framework"}:
                status = "allowed"
            elif group.key in baseline:
                status = "baselined"
            elif settings.update_baseline:
                status = "recorded"
            if status in ("new", "recorded"):
                packages = {package for kind, package in group_kinds if kind == "third-party"}
                if kind_names == {"third-party"} and len(packages) == 1:
                    (package,) = packages
                    third_party[package] = third_party.get(package, 0) + group.count
                    findings.setdefault("third_party", {})[group.key] = package
        if status == "new":
            offending.extend(index for index in indexes if index not in allowed)
        findings["groups"][group.key] = {
            "status": status,
            "count": group.count,
            "signature": group.signature_head(300),
        }
    item.user_properties.append((_PROPERTY, json.dumps(findings, sort_keys=True)))
    if definitions:
        notes.append(
            f"refscope note: {definitions} definition "
            f"cycle{'s' if definitions != 1 else ''} (a class and what its definition "
            "creates) not counted; --refscope-strict counts them"
        )
    if not offending:
        if definitions and settings.strict is False:
            item.add_report_section("call", "refscope", notes[0])
        return None
    for package, count in sorted(third_party.items()):
        notes.append(
            f"{count} of these cycles are inside the third-party package {package!r}, not in "
            f"your code: to tolerate them add `--refscope-allow-module={package}` or the ini "
            f"line `refscope_allow_modules = {package}`"
        )
    sites = _test_body_sites(report, sorted(set(offending)), item)
    if sites:
        notes.append(
            "objects created at (test body, tracemalloc): "
            + ", ".join(f"{Path(name).name}:{line}" for name, line in sites)
        )
    return refscope.CyclesFoundError.from_report(
        report,
        sorted(set(offending)),
        where=f"test {item.nodeid}",
        allowed_count=len(report) - len(set(offending)),
        note="\n".join(notes),
    )


def _test_body_sites(
    report: Any, offending: list[int], item: pytest.Item
) -> list[tuple[str, int]]:
    """Lines of the test's own file where the offending cycles' objects were allocated
    (when tracemalloc traced the allocation), at most five, in order."""
    path = getattr(item, "path", None)
    if path is None or not tracemalloc.is_tracing():
        # Allocation sites are recorded only while tracemalloc traces; describing the
        # cycles just to find none would cost more than the rest of the check.
        return []
    filename = os.path.realpath(str(path))
    sites: list[tuple[str, int]] = []
    for index in offending[:20]:
        for entry in report._cycle(index).entries:
            for name, line in reversed(entry.allocated_at):
                if os.path.realpath(name) == filename:
                    if (name, line) not in sites:
                        sites.append((name, line))
                    break
    return sorted(sites, key=lambda site: site[1])[:5]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    text = item.stash.get(_failure_text_key, None) if call.when == "call" else None
    excinfo = call.excinfo
    if text is not None and excinfo is not None and isinstance(
        excinfo.value, refscope.CyclesFoundError
    ):
        # pytest renders the traceback of every failure before this wrapper can replace
        # it (item.repr_failure, inside the default makereport). The forced error's
        # traceback runs only through pluggy and pytest, which pytest's filter removes
        # entirely, so it falls back to rendering every entry with its source: each
        # entry parses a whole pytest or pluggy file (_pytest/_code/source.py,
        # getstatementrange_ast), about 0.5 s per failing test on attrs' suite. Only the
        # innermost entry is kept: the report and its exception stay as they are (for
        # xfail, --pdb and the other plugins), and the text below replaces the rendering.
        excinfo.traceback = excinfo.traceback[-1:]
    del excinfo
    outcome = yield
    if text is None:
        return
    del item.stash[_failure_text_key]
    report = outcome.get_result()
    # The report itself, not a traceback through pytest's and refscope's internals.
    report.longrepr = text


# -- across the run: summary and baseline (on the controller under xdist) ------------------


class _Summary:
    def __init__(self) -> None:
        # group key -> [signature, tests, cycles, {status: tests}]
        self.groups: dict[str, dict[str, Any]] = {}
        self.by_test: dict[str, list[str]] = {}
        self.third_party: dict[str, int] = {}
        self.checked = 0

    def add(self, nodeid: str, findings: dict[str, Any]) -> None:
        for key, group in findings.get("groups", {}).items():
            entry = self.groups.setdefault(
                key, {"signature": group["signature"], "tests": 0, "cycles": 0, "status": {}}
            )
            entry["tests"] += 1
            entry["cycles"] += group["count"]
            status = group["status"]
            entry["status"][status] = entry["status"].get(status, 0) + 1
            if status in ("new", "baselined", "recorded"):
                self.by_test.setdefault(nodeid, []).append(key)
        for package in findings.get("third_party", {}).values():
            self.third_party[package] = self.third_party.get(package, 0) + 1


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call":
        return
    for name, value in report.user_properties:
        if name == _PROPERTY:
            config = _config_of(report)
            if config is not None:
                config.stash[_settings_key].summary.add(report.nodeid, json.loads(value))


# The configs of the sessions running now (pytester runs sessions inside a session);
# pytest_runtest_logreport is not given its config.
_CONFIGS: list[pytest.Config] = []


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _CONFIGS.append(session.config)


def pytest_unconfigure(config: pytest.Config) -> None:
    if config in _CONFIGS:
        _CONFIGS.remove(config)


def _config_of(report: pytest.TestReport) -> pytest.Config | None:
    return _CONFIGS[-1] if _CONFIGS else None


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput"):  # an xdist worker: the controller writes
        return
    settings = config.stash[_settings_key]
    if settings.update_baseline and settings.baseline_path is not None:
        tests = {
            nodeid: sorted(set(keys))
            for nodeid, keys in sorted(settings.summary.by_test.items())
        }
        data = {"format": "refscope.pytest-baseline", "version": 1, "tests": tests}
        settings.baseline_path.write_text(
            json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    settings = config.stash[_settings_key]
    summary = settings.summary
    if not summary.groups:
        return
    write = terminalreporter.write_line
    terminalreporter.section("refscope: reference cycles")
    totals: dict[str, int] = {}
    for entry in summary.groups.values():
        for status, tests in entry["status"].items():
            totals[status] = totals.get(status, 0) + tests
    write(
        f"{len(summary.groups)} cycle groups in {len(summary.by_test) or 0} failing or "
        "baselined tests; by test: "
        + ", ".join(f"{status} {count}" for status, count in sorted(totals.items()))
    )
    ranked = sorted(
        summary.groups.items(), key=lambda item: (-item[1]["tests"], -item[1]["cycles"], item[0])
    )
    for key, entry in ranked[:15]:
        statuses = ", ".join(f"{s} {n}" for s, n in sorted(entry["status"].items()))
        write(f"  {entry['tests']:>5} tests  {key}  {entry['signature'][:90]}  ({statuses})")
    if len(ranked) > 15:
        write(f"  ... {len(ranked) - 15} more groups")
    if summary.third_party:
        packages = sorted(summary.third_party)
        write(
            "cycles inside third-party packages: "
            + ", ".join(f"{p} ({summary.third_party[p]} tests)" for p in packages)
        )
    suggestions = []
    if summary.third_party:
        suggestions.append("refscope_allow_modules = " + " ".join(sorted(summary.third_party)))
    if totals.get("new") and settings.baseline_path is None:
        suggestions.append(
            "# to adopt on this suite: pytest --refscope "
            "--refscope-baseline=refscope-baseline.json --refscope-update-baseline"
        )
    if suggestions:
        write("suggested ini lines ([pytest] / [tool.pytest.ini_options]):")
        for line in suggestions:
            write(f"  {line}")
