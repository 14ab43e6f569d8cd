"""The end-to-end benchmark's quick mode runs to the end on this interpreter (no timings
are asserted: performance is measured in benchmarks, never in tests)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benches" / "e2e.py"
SHAPES = ("del_pairs", "ring", "dense", "frames", "web_mix")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    if not BENCHMARK.is_file():
        pytest.skip(f"{BENCHMARK} is not in this checkout")
    out = tmp_path_factory.mktemp("bench")
    completed = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick",
         "--markdown", str(out / "e2e.md"), "--json", str(out / "e2e.json")],
        capture_output=True, text=True, timeout=600,
    )
    return completed, out


def test_quick_benchmark_exits_successfully(quick_run):
    completed, _ = quick_run
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert "SANITY CHECK FAILED" not in completed.stderr


def test_quick_benchmark_prints_a_table_for_every_shape(quick_run):
    completed, _ = quick_run
    header = "| N | objects in garbage | gc.collect ms | find_cycles ms (× gc)"
    assert completed.stdout.count(header) == len(SHAPES)
    for shape in SHAPES:
        assert f"### {shape}:" in completed.stdout
        table = completed.stdout.split(f"### {shape}:")[1]
        assert "\n| 1k | " in table, f"no N=1000 row in the {shape} table"


def test_quick_benchmark_writes_the_same_markdown_and_a_json_of_every_row(quick_run):
    completed, out = quick_run
    assert (out / "e2e.md").read_text().strip() == completed.stdout.strip()
    rows = json.loads((out / "e2e.json").read_text())["rows"]
    assert sorted(row["shape"] for row in rows) == sorted(SHAPES)
    for row in rows:
        assert row["size"] == 1000
        assert row["sanity_failures"] == [] and row["errors"] == []
        assert row["garbage_objects"] >= 900


def test_quick_benchmark_finds_the_expected_cycles_with_both_refscope_calls(quick_run):
    _, out = quick_run
    rows = {row["shape"]: row for row in json.loads((out / "e2e.json").read_text())["rows"]}
    assert rows["ring"]["expected_cycles"] == 1
    assert rows["dense"]["expected_cycles"] == 1
    # One cycle per A <-> B pair (on 3.10 gc.garbage also holds their two instance dicts).
    pairs = rows["del_pairs"]
    assert pairs["objects_per_unit"] in (2, 4)
    assert pairs["expected_cycles"] == pairs["garbage_objects"] // pairs["objects_per_unit"]
    for row in rows.values():
        find_cycles = row["workers"]["find_cycles"][0]
        circular = row["workers"]["circular"][0]
        assert find_cycles["find_cycles_count"] == row["expected_cycles"]
        assert circular["find_circular_references_count"] == row["expected_cycles"]


def test_benchmark_help_names_every_option():
    completed = subprocess.run(
        [sys.executable, str(BENCHMARK), "--help"], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0
    for option in ("--sizes", "--shapes", "--repeat", "--recipe-timeout", "--markdown",
                   "--json", "--quick"):
        assert option in completed.stdout


def test_benchmark_rejects_an_unknown_shape_with_the_list_of_shapes():
    completed = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--shapes", "triangle"],
        capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 2
    assert "triangle" in completed.stderr and "del_pairs" in completed.stderr


def run_ring_with_recipe(tmp_path, recipe_source, *extra):
    recipe = tmp_path / "recipe.py"
    recipe.write_text(recipe_source)
    completed = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--shapes", "ring", "--recipe", str(recipe),
         "--json", str(tmp_path / "e2e.json"), *extra],
        capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    (row,) = json.loads((tmp_path / "e2e.json").read_text())["rows"]
    return completed.stdout, row["recipe"]


def test_a_recipe_that_segfaults_is_recorded_as_crashed(tmp_path):
    stdout, recipe = run_ring_with_recipe(
        tmp_path,
        "import ctypes\n\ndef find_circular_references(garbage=None):\n"
        "    return ctypes.string_at(0)  # reads address 0: SIGSEGV\n",
    )
    assert recipe["status"] == "crashed (SIGSEGV)"
    assert "**crashed (SIGSEGV)**" in stdout


def test_a_recipe_that_does_not_return_is_stopped_and_recorded_as_timed_out(tmp_path):
    stdout, recipe = run_ring_with_recipe(
        tmp_path,
        "import time\n\ndef find_circular_references(garbage=None):\n    time.sleep(600)\n",
        "--recipe-timeout", "1",
    )
    assert recipe["status"] == "timed out after 1 s"
    assert "**timed out after 1 s**" in stdout


def test_a_recipe_that_recurses_without_end_is_recorded_as_recursion_error(tmp_path):
    _, recipe = run_ring_with_recipe(
        tmp_path,
        "def find_circular_references(garbage=None):\n"
        "    def deeper(depth):\n        return deeper(depth + 1)\n    return deeper(0)\n",
    )
    assert recipe["status"] == "RecursionError"


# -- the user paths of issue 20 and the monitor-overhead benchmark ----------------------

USER_PATHS = ("collect", "monitor", "capture")


def test_quick_benchmark_measures_every_user_path_against_a_plain_collection(quick_run):
    completed, out = quick_run
    assert "## User paths (issue 20)" in completed.stdout
    assert "| shape | N | plain gc.collect ms | `collect()` + `to_text()` |" in completed.stdout
    rows = json.loads((out / "e2e.json").read_text())["rows"]
    for row in rows:
        assert row["user_sanity_failures"] == []
        for tool in USER_PATHS:
            (run,) = row["workers"][tool]
            # The plain collection freed the shape (what it reports may differ by an object
            # or two from what DEBUG_SAVEALL keeps), and the path saw the same garbage again.
            assert abs(run["garbage_objects"] - row["garbage_objects"]) <= 2
            assert run["path_cycles"] == row["expected_cycles"]
            assert run["plain_collect_ms"] > 0 and run["path_ms"] > 0
            assert row[f"user_{tool}_ratio"] == run["path_ms"] / run["plain_collect_ms"]
        collect = row["workers"]["collect"][0]
        assert collect["path_collected"] == collect["garbage_objects"]
        assert collect["text_chars"] > 0
        monitor = row["workers"]["monitor"][0]
        assert monitor["monitor_sampled"] == 1
        # The sampled collection freed its garbage itself: nothing was left for the next.
        assert monitor["then_freed"] == 0
        capture = row["workers"]["capture"][0]
        assert capture["then_freed"] == 0  # freed on exit, as collect() frees its garbage


def test_user_paths_alone_skip_the_phase_tables(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(BENCHMARK), "--quick", "--shapes", "web_mix", "--tools",
         "collect,capture", "--json", str(tmp_path / "e2e.json")],
        capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert "## User paths (issue 20)" in completed.stdout
    assert "End-to-end phases" not in completed.stdout
    (row,) = json.loads((tmp_path / "e2e.json").read_text())["rows"]
    assert set(row["workers"]) >= {"collect", "capture"}
    assert row["workers"]["monitor"] == [] and row["workers"]["find_cycles"] == []
    assert row["user_collect_ratio"] is not None and "user_monitor_ratio" not in row


MONITOR_OVERHEAD = BENCHMARK.with_name("monitor_overhead.py")


def test_monitor_overhead_quick_run_times_collections_with_and_without_the_monitor(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(MONITOR_OVERHEAD), "--quick", "--json", str(tmp_path / "m.json")],
        capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert "Monitor's share of the process CPU time" in completed.stdout
    result = json.loads((tmp_path / "m.json").read_text())
    runs = {run["mode"]: run for run in result["runs"]}
    assert set(runs) == {"off", "on"}
    # The same deterministic workload in both modes, with automatic gc running it.
    assert runs["off"]["checksum"] == runs["on"]["checksum"]
    for run in runs.values():
        assert run["collections"][0] > 0
        assert 0 < run["gc_cpu_s"] < run["process_cpu_s"]
    assert "monitor" not in runs["off"]
    stats = runs["on"]["monitor"]
    assert stats["collections_sampled"] >= 1 and stats["cycles_found"] > 0
    assert stats["errors"] == 0
    # Every collection was seen by both the timer and the monitor.
    assert sum(stats["collections_by_generation"]) == sum(runs["on"]["collections"])
