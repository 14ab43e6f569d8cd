"""The pytest plugin, driven through pytester on real test files."""

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
            "Group 1: ×1, 40 B, key *",
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
