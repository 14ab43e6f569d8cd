"""The pytest plugin, driven through pytester on real test files."""

import json

import pytest

pytest_plugins = ["pytester"]

TESTS_WITH_AND_WITHOUT_CYCLES = """
class Node:
    pass

def test_clean():
    data = [1, 2, 3]
    assert sum(data) == 6

def test_leaky():
    node = Node()
    node.me = node
"""


def test_refscope_option_fails_the_test_that_creates_a_cycle_and_shows_the_report(pytester):
    pytester.makepyfile(test_sample=TESTS_WITH_AND_WITHOUT_CYCLES)
    result = pytester.runpytest("--refscope")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_leaky _*",
            "refscope: 1 reference cycle (1 shape) became garbage in test "
            "test_sample.py::test_leaky",
            "  ×1 * test_sample.Node .me",
            "Group 1: ×1, * B, key *",  # the size differs by version (48 B on 3.10)
            "  Fix (edge .me): *",
            "*--?.me?--> (back to the first object)",  # fnmatch: [ ] is a class
            "FAILED test_sample.py::test_leaky*",
        ]
    )
    # the report, not a traceback through pytest's and refscope's internals
    result.stdout.no_fnmatch_line("*pluggy/_callers.py*")
    result.stdout.no_fnmatch_line("*pytest_plugin.py*")


def test_without_the_option_or_a_marker_nothing_is_checked(pytester):
    pytester.makepyfile(test_sample=TESTS_WITH_AND_WITHOUT_CYCLES)
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("refscope:*")


def test_an_unchecked_run_never_calls_gc_collect(pytester):
    pytester.makepyfile(
        test_sample="""
        import gc

        gc.disable()
        full_collections = []

        def test_first():
            full_collections.append(gc.get_stats()[2]["collections"])

        def test_second():
            full_collections.append(gc.get_stats()[2]["collections"])
            assert full_collections[0] == full_collections[1]
        """
    )
    pytester.runpytest().assert_outcomes(passed=2)
    # and the same check fails when refscope does collect, so it can tell
    pytester.runpytest("--refscope").assert_outcomes(passed=1, failed=1)


def test_the_no_cycles_marker_checks_only_the_marked_test(pytester):
    pytester.makepyfile(
        test_sample="""
        import pytest

        class Node:
            pass

        def make_cycle():
            node = Node()
            node.me = node

        def test_unmarked():
            make_cycle()

        @pytest.mark.no_cycles
        def test_marked():
            make_cycle()
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_sample.py::test_marked*"])


def test_the_marker_takes_an_allow_list_of_types_names_and_predicates(pytester):
    pytester.makepyfile(
        test_sample="""
        import pytest

        class Node:
            pass

        class Other:
            pass

        def make_cycle(cls):
            obj = cls()
            obj.me = obj

        @pytest.mark.no_cycles(allow=[Node])
        def test_allowed_by_type():
            make_cycle(Node)

        @pytest.mark.no_cycles(allow="test_sample.Node")
        def test_allowed_by_name():
            make_cycle(Node)

        @pytest.mark.no_cycles(allow=lambda cycle: cycle.labels == [".me"])
        def test_allowed_by_predicate():
            make_cycle(Other)

        @pytest.mark.no_cycles(allow=["Node"])
        def test_other_types_still_fail():
            make_cycle(Node)
            make_cycle(Other)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "refscope: 1 reference cycle (1 shape) became garbage in test "
            "test_sample.py::test_other_types_still_fail; 1 more allowed",
            "  ×1 * test_sample.Other .me",
        ]
    )


def test_the_allow_option_and_the_ini_setting_tolerate_known_types(pytester):
    pytester.makepyfile(
        test_sample="""
        class Known:
            pass

        class Legacy:
            pass

        class Fresh:
            pass

        def make_cycle(cls):
            obj = cls()
            obj.me = obj

        def test_known():
            make_cycle(Known)

        def test_legacy():
            make_cycle(Legacy)

        def test_fresh():
            make_cycle(Fresh)
        """
    )
    pytester.makeini(
        """
        [pytest]
        refscope_allow = test_sample.Legacy
        """
    )
    result = pytester.runpytest("--refscope", "--refscope-allow=Known,SomethingElse")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_sample.py::test_fresh*"])
    result.stdout.fnmatch_lines(
        ["refscope: every test is checked for reference cycles (allowed: *Legacy, Known, *)"]
    )


def test_the_ini_setting_refscope_checks_every_test(pytester):
    pytester.makepyfile(test_sample=TESTS_WITH_AND_WITHOUT_CYCLES)
    pytester.makeini(
        """
        [pytest]
        refscope = true
        """
    )
    pytester.runpytest().assert_outcomes(passed=1, failed=1)


def test_allow_cycles_exempts_a_test_from_the_option(pytester):
    pytester.makepyfile(
        test_sample="""
        import pytest

        @pytest.mark.allow_cycles
        def test_exempt():
            ring = []
            ring.append(ring)
        """
    )
    pytester.runpytest("--refscope").assert_outcomes(passed=1)


def test_a_test_that_fails_on_its_own_shows_only_its_own_failure(pytester):
    pytester.makepyfile(
        test_sample="""
        def test_broken():
            ring = []
            ring.append(ring)
            del ring
            assert 1 == 2, "its own failure"
        """
    )
    result = pytester.runpytest("--refscope")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*its own failure*"])
    result.stdout.no_fnmatch_line("refscope: 1 reference cycle*")


def test_skipped_and_xfailed_tests_are_not_checked(pytester):
    pytester.makepyfile(
        test_sample="""
        import pytest

        def test_skipped():
            ring = []
            ring.append(ring)
            del ring
            pytest.skip("not here")

        @pytest.mark.xfail(strict=True)
        def test_expected_failure():
            ring = []
            ring.append(ring)
            del ring
            raise ValueError
        """
    )
    pytester.runpytest("--refscope").assert_outcomes(skipped=1, xfailed=1)


def test_pytest_raises_as_excinfo_is_not_blamed_on_the_test(pytester):
    pytester.makepyfile(
        test_sample="""
        import pytest

        def test_raises():
            with pytest.raises(ValueError) as excinfo:
                raise ValueError("expected")
            assert "expected" in str(excinfo.value)
        """
    )
    pytester.runpytest("--refscope").assert_outcomes(passed=1)


def test_a_previous_failure_is_not_blamed_on_the_next_test(pytester):
    pytester.makepyfile(
        test_sample="""
        def test_fails_with_a_frame_cycle():
            try:
                raise ValueError("first")
            except ValueError as error:
                kept = error
            assert kept is None

        def test_clean():
            # pytest drops the previous failure (sys.last_value) at the start of the call;
            # that garbage must be gone before the check begins, not appear inside it
            import refscope

            report = refscope.collect()
            assert len(report) == 0, report.to_text(color=False)
        """
    )
    result = pytester.runpytest_subprocess("--refscope", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_sample.py::test_fails_with_a_frame_cycle*"])


def test_the_plugin_leaves_no_cycles_between_checked_tests(pytester):
    pytester.makepyfile(
        test_sample="""
        import pytest
        import refscope

        @pytest.mark.no_cycles
        def test_one():
            pass

        @pytest.mark.no_cycles
        def test_two():
            pass

        def test_nothing_left_behind():
            report = refscope.collect()
            assert not [c for c in report.cycles if any("refscope" in t for t in c.types)]
        """
    )
    pytester.runpytest().assert_outcomes(passed=3)


def test_the_options_are_listed_in_help(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        ["reference cycles (refscope):", "  --refscope*", "  --refscope-allow=TYPE*"]
    )


def test_markers_are_registered_so_strict_markers_accepts_them(pytester):
    pytester.makepyfile(
        test_sample="""
        import pytest

        @pytest.mark.no_cycles
        def test_marked():
            pass

        @pytest.mark.allow_cycles
        def test_exempt():
            pass
        """
    )
    pytester.runpytest("--strict-markers").assert_outcomes(passed=2)


def test_under_xdist_each_worker_checks_its_own_tests(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(
        test_sample="""
        import pytest

        class Node:
            pass

        @pytest.mark.parametrize("index", range(6))
        def test_clean(index):
            assert index >= 0

        @pytest.mark.parametrize("index", range(2))
        def test_leaky(index):
            node = Node()
            node.me = node
        """
    )
    result = pytester.runpytest_subprocess("-n", "2", "--refscope", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*refscope: 1 reference cycle (1 shape) became garbage in test "
            "test_sample.py::test_leaky?0?*",
            "*×1 * test_sample.Node .me*",
        ]
    )


# -- blame only what the test created ------------------------------------------------------


def test_tests_that_only_release_earlier_cycles_pass_and_the_one_that_makes_them_fails(pytester):
    pytester.makepyfile(
        test_sample="""
        import functools

        class Node:
            pass

        def make_cycle():
            node = Node()
            node.me = node
            return node

        CACHE = {}
        MADE_AT_IMPORT = [make_cycle()]

        def test_fill_the_cache():
            CACHE["a"] = make_cycle()  # reachable at the end: not garbage

        def test_clear_the_cache():
            CACHE.clear()  # drops the last reference to the previous test's cycle

        def test_drop_a_cycle_made_at_import():
            MADE_AT_IMPORT.clear()

        @functools.lru_cache(maxsize=1)
        def cached(key):
            return make_cycle()

        def test_lru_cache_fill():
            cached(1)

        def test_lru_cache_evicts():
            cached(2)  # evicts the cycle made by the previous test...
            cached.cache_clear()  # ...and this one, made here: its own garbage

        def test_makes_garbage_itself():
            make_cycle()
        """
    )
    result = pytester.runpytest("--refscope", "-p", "no:randomly")
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(
        [
            "FAILED test_sample.py::test_lru_cache_evicts*",
            "FAILED test_sample.py::test_makes_garbage_itself*",
        ]
    )
    result.stdout.fnmatch_lines(
        ["refscope: 1 reference cycle (1 shape) became garbage in test "
         "test_sample.py::test_lru_cache_evicts"]
    )


def test_a_class_defined_in_a_test_passes_with_a_note_and_fails_when_strict(pytester):
    pytester.makepyfile(
        test_sample="""
        def test_defines_a_class():
            class Local:
                def method(self):
                    return super().__repr__()
            assert Local().method()
        """
    )
    pytester.runpytest("--refscope").assert_outcomes(passed=1)
    strict = pytester.runpytest("--refscope", "--refscope-strict")
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(["*class test_defines_a_class.<locals>.Local*"])
    pytester.makeini("[pytest]\nrefscope_strict = true\n")
    pytester.runpytest("--refscope").assert_outcomes(failed=1)


def test_an_empty_hypothesis_test_passes(pytester):
    pytest.importorskip("hypothesis")
    # Hypothesis writes its character-map cache once per process, gzip-compressed; on
    # CPython 3.12+ a GzipFile is a cycle (._buffer -> .raw -> .gzip_file), made of
    # standard-library types, so the first text() test of a run would get it. Warm the
    # cache up before the tests, as a suite's first Hypothesis test effectively does
    # (known limitation, docs/pytest.md).
    pytester.makeconftest(
        """
        from hypothesis import strategies as st
        st.text().example()
        """
    )
    pytester.makepyfile(
        test_sample="""
        from hypothesis import given, settings, strategies as st

        @settings(max_examples=30, database=None)
        @given(st.lists(st.integers()), st.text())
        def test_empty(numbers, text):
            pass
        """
    )
    result = pytester.runpytest("--refscope")
    result.assert_outcomes(passed=1)


def test_allow_module_tolerates_a_packages_internal_cycles(pytester):
    pytester.makepyfile(
        helperlib="""
        class Engine:
            def __init__(self):
                self.runner = Runner(self)

        class Runner:
            def __init__(self, engine):
                self.engine = engine
        """,
        test_sample="""
        import helperlib

        def test_uses_the_library():
            helperlib.Engine()
        """,
    )
    pytester.runpytest("--refscope").assert_outcomes(failed=1)
    pytester.runpytest("--refscope", "--refscope-allow-module=helperlib").assert_outcomes(
        passed=1
    )
    pytester.makeini("[pytest]\nrefscope_allow_modules = helperlib other\n")
    pytester.runpytest("--refscope").assert_outcomes(passed=1)


BASELINE_TESTS = """
class Node:
    pass

def make_cycle(cls=Node):
    node = cls()
    node.me = node

def test_old_leak():
    make_cycle()

def test_clean():
    pass
"""


def test_a_baseline_adopts_a_suite_and_a_new_cycle_fails_only_its_own_test(pytester):
    pytester.makepyfile(test_sample=BASELINE_TESTS)
    baseline = pytester.path / "refscope-baseline.json"
    first = pytester.runpytest(
        "--refscope", f"--refscope-baseline={baseline}", "--refscope-update-baseline"
    )
    first.assert_outcomes(passed=2)
    data = json.loads(baseline.read_text())
    assert list(data["tests"]) == ["test_sample.py::test_old_leak"]
    (keys,) = data["tests"].values()
    assert len(keys) == 1 and len(keys[0]) == 12
    assert baseline.read_text() == json.dumps(data, indent=2, sort_keys=True) + "\n"
    pytester.runpytest("--refscope", f"--refscope-baseline={baseline}").assert_outcomes(
        passed=2
    )
    pytester.makepyfile(
        test_sample=BASELINE_TESTS
        + """
class Other:
    pass

def test_new_leak():
    make_cycle(Other)

def test_old_leak_and_a_new_one():
    make_cycle()
    make_cycle(Other)
"""
    )
    result = pytester.runpytest("--refscope", f"--refscope-baseline={baseline}")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "FAILED test_sample.py::test_new_leak*",
            "FAILED test_sample.py::test_old_leak_and_a_new_one*",
        ]
    )


def test_the_summary_lists_groups_and_suggests_ini_lines(pytester):
    pytester.makepyfile(test_sample=BASELINE_TESTS)
    result = pytester.runpytest("--refscope")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*= refscope: reference cycles =*",
            "1 cycle groups in 1 failing or baselined tests; by test: new 1",
            "      1 tests  * test_sample.Node .me  (new 1)",
            "suggested ini lines*",
            "  # to adopt on this suite: pytest --refscope --refscope-baseline=*",
        ]
    )


def test_gc_freeze_state_and_flags_are_unchanged_after_the_session(pytester):
    pytester.makepyfile(
        test_sample="""
        import gc

        class Node:
            pass

        def test_leak():
            node = Node()
            node.me = node

        def test_clean():
            pass
        """,
        conftest="""
        import gc, sys
        from refscope import _core

        STATE = {}

        def frozen():
            # Not the immortal objects CPython 3.12's collector parks there itself.
            count = gc.get_freeze_count()
            if sys.version_info[:2] == (3, 12):
                return _core.permanent_generation_mortal_count(count)
            return count

        def pytest_sessionstart(session):
            gc.set_debug(gc.DEBUG_UNCOLLECTABLE)
            STATE["start"] = (gc.get_debug(), gc.isenabled(), frozen())

        def pytest_sessionfinish(session):
            end = (gc.get_debug(), gc.isenabled(), frozen())
            print("GC STATE", STATE["start"] == end, end)
            gc.set_debug(0)
        """,
    )
    result = pytester.runpytest("--refscope", "-s")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*GC STATE True (4, True, 0)*"])


def test_a_failure_names_the_test_body_line_when_tracemalloc_traces(pytester):
    pytester.makepyfile(
        conftest="""
        import tracemalloc
        tracemalloc.start(10)
        """,
        test_sample="""
        class Node:
            __slots__ = ("me",)

        def test_leak():
            x = 1
            node = Node()
            node.me = node
        """,
    )
    result = pytester.runpytest("--refscope")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["objects created at (test body, tracemalloc): test_sample.py:6"])


def test_a_cycle_failure_is_not_rendered_through_pytests_and_pluggys_sources(pytester):
    # pytest renders a failure's traceback before the plugin replaces it with the report;
    # the forced error's traceback runs only through pluggy and pytest, whose every entry
    # pytest would render with its source (parsing whole files: ~0.5 s per failing test
    # on a real suite). The plugin leaves only the innermost entry to render.
    pytester.makepyfile(
        conftest="""
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_makereport(item, call):
            if call.when == "call" and call.excinfo is not None:
                print(f"TRACEBACK ENTRIES {len(call.excinfo.traceback)}"
                      f" {type(call.excinfo.value).__name__}")
        """,
        test_sample="""
        import pytest

        class Node:
            pass

        def test_leaky():
            node = Node()
            node.me = node

        @pytest.mark.xfail(reason="leaks on purpose", strict=True)
        def test_expected_leak():
            node = Node()
            node.me = node
        """,
    )
    result = pytester.runpytest("--refscope", "-s")
    result.assert_outcomes(failed=1, xfailed=1)
    result.stdout.fnmatch_lines(["*TRACEBACK ENTRIES 1 CyclesFoundError*"])
    result.stdout.no_fnmatch_line("*TRACEBACK ENTRIES [02-9]*")
    result.stdout.fnmatch_lines(
        ["refscope: 1 reference cycle (1 shape) became garbage in test test_sample.py::test_leaky"]
    )
