"""The `refscope` command, run as a subprocess on real scripts."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

LEAKY_SCRIPT = """
import sys

class Node:
    def __init__(self):
        self.me = self

def work():
    for _ in range(3):
        Node()
    try:
        raise ValueError("request failed")
    except ValueError as error:
        kept = error

work()
print("script output", sys.argv[1:])
"""


def refscope(*args, cwd, check_code=None, env=None):
    """Run `python -m refscope ARGS` in ``cwd``; returns the CompletedProcess."""
    result = subprocess.run(
        [sys.executable, "-m", "refscope", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    if check_code is not None:
        assert result.returncode == check_code, (result.returncode, result.stdout, result.stderr)
    return result


def write_script(directory, source, name="script.py"):
    path = Path(directory) / name
    path.write_text(textwrap.dedent(source))
    return path


def test_run_reports_the_scripts_cycles_on_stderr_and_leaves_stdout_to_the_script(tmp_path):
    write_script(tmp_path, LEAKY_SCRIPT)
    result = refscope("run", "script.py", "--flag", "value", cwd=tmp_path, check_code=0)
    assert result.stdout == "script output ['--flag', 'value']\n"
    assert result.stderr.startswith("refscope: 4 cycles in 2 groups")
    assert "__main__.Node .me" in result.stderr
    assert "--[local kept]-->" in result.stderr
    assert "\x1b[" not in result.stderr  # no colour when stderr is not a terminal


def test_a_script_that_makes_no_garbage_reports_no_cycles_and_its_globals_are_not_blamed(
    tmp_path,
):
    write_script(
        tmp_path,
        """
        import dataclasses

        class Config:
            pass

        @dataclasses.dataclass
        class Point:
            x: int
            y: int

        def helper():
            return Point(1, 2)

        ring = []
        ring.append(ring)  # still reachable at the end: not garbage
        print(helper())
        """,
    )
    result = refscope("run", "script.py", cwd=tmp_path, check_code=0)
    assert result.stderr.startswith("refscope: 0 cycles"), result.stderr


def test_the_script_runs_as_main_with_its_directory_on_sys_path(tmp_path):
    (tmp_path / "sub").mkdir()
    write_script(tmp_path / "sub", "VALUE = 42\n", name="sibling.py")
    write_script(
        tmp_path / "sub",
        """
        import sys
        import sibling

        print(__name__, sibling.VALUE, sys.argv[0], sys.modules["__main__"].__file__)
        """,
    )
    result = refscope("run", "sub/script.py", cwd=tmp_path, check_code=0)
    assert result.stdout.split() == ["__main__", "42", "sub/script.py", "sub/script.py"]


def test_options_after_the_script_belong_to_the_script(tmp_path):
    write_script(tmp_path, "import sys\nprint(sys.argv[1:])\n")
    result = refscope("run", "script.py", "--help", "-o", "x.txt", cwd=tmp_path, check_code=0)
    assert result.stdout == "['--help', '-o', 'x.txt']\n"
    assert not (tmp_path / "x.txt").exists()


def test_a_script_that_raises_gets_its_traceback_its_report_and_exit_code_1(tmp_path):
    write_script(
        tmp_path,
        LEAKY_SCRIPT + "\nraise RuntimeError('the script failed')\n",
    )
    result = refscope("run", "script.py", cwd=tmp_path, check_code=1)
    traceback_part, _, report_part = result.stderr.partition("refscope: 4 cycles")
    assert traceback_part.startswith("Traceback (most recent call last):")
    assert 'File "script.py", line 19, in <module>' in traceback_part
    assert traceback_part.rstrip().endswith("RuntimeError: the script failed")
    assert "refscope" not in traceback_part  # only the script's frames, as python shows
    assert "__main__.Node .me" in report_part


def test_the_scripts_own_exit_code_is_kept(tmp_path):
    write_script(tmp_path, LEAKY_SCRIPT + "\nsys.exit(7)\n")
    result = refscope("run", "script.py", cwd=tmp_path, check_code=7)
    assert "refscope: 4 cycles" in result.stderr


def test_a_message_given_to_sys_exit_is_printed_and_the_exit_code_is_1(tmp_path):
    write_script(tmp_path, "import sys\nsys.exit('giving up')\n")
    result = refscope("run", "script.py", cwd=tmp_path, check_code=1)
    assert result.stderr.startswith("giving up\n")


def test_an_interrupted_script_exits_130_after_its_report(tmp_path):
    write_script(tmp_path, LEAKY_SCRIPT + "\nraise KeyboardInterrupt\n")
    result = refscope("run", "script.py", cwd=tmp_path, check_code=130)
    assert "KeyboardInterrupt" in result.stderr
    assert "refscope: 4 cycles" in result.stderr


def test_fail_on_cycles_exits_3_when_the_script_created_cycles(tmp_path):
    write_script(tmp_path, LEAKY_SCRIPT)
    result = refscope("run", "--fail-on-cycles", "script.py", cwd=tmp_path, check_code=3)
    assert "refscope: the script created 4 reference cycles (exit code 3" in result.stderr


def test_fail_on_cycles_exits_0_when_there_are_none(tmp_path):
    write_script(tmp_path, "print('clean')\n")
    refscope("run", "--fail-on-cycles", "script.py", cwd=tmp_path, check_code=0)


def test_fail_on_cycles_keeps_a_failing_scripts_own_exit_code(tmp_path):
    write_script(tmp_path, LEAKY_SCRIPT + "\nsys.exit(5)\n")
    refscope("run", "--fail-on-cycles", "script.py", cwd=tmp_path, check_code=5)


def test_output_txt_writes_the_text_report_and_says_where(tmp_path):
    write_script(tmp_path, LEAKY_SCRIPT)
    result = refscope("run", "-o", "report.txt", "script.py", cwd=tmp_path, check_code=0)
    text = (tmp_path / "report.txt").read_text()
    assert text.startswith("refscope: 4 cycles in 2 groups")
    assert "\x1b[" not in text
    assert result.stderr.startswith("refscope: 4 cycles (2 shapes) among ")
    assert result.stderr.rstrip().endswith("; report written to report.txt")


def test_output_json_is_valid_against_the_shipped_schema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    import refscope as package

    write_script(tmp_path, LEAKY_SCRIPT)
    refscope("run", "--output", "report.json", "script.py", cwd=tmp_path, check_code=0)
    document = json.loads((tmp_path / "report.json").read_text())
    schema_path = Path(package.__file__).parent / "schema" / "report-v1.json"
    jsonschema.validate(document, json.loads(schema_path.read_text()))
    assert document["summary"]["cycle_count"] == 4


def test_output_html_is_a_self_contained_page_titled_after_the_script(tmp_path):
    write_script(tmp_path, LEAKY_SCRIPT)
    refscope("run", "-o", "report.html", "script.py", cwd=tmp_path, check_code=0)
    page = (tmp_path / "report.html").read_text()
    assert page.lstrip().lower().startswith("<!doctype html")
    assert "refscope run script.py" in page
    assert "__main__.Node" in page


def test_trace_shows_where_each_object_on_a_cycle_was_allocated(tmp_path):
    write_script(
        tmp_path,
        """
        def make_ring():
            ring = []
            ring.append(ring)

        make_ring()
        """,
    )
    plain = refscope("run", "script.py", cwd=tmp_path, check_code=0)
    traced = refscope("run", "--trace", "script.py", cwd=tmp_path, check_code=0)
    assert "Allocated at" not in plain.stderr
    sites = traced.stderr.partition("Allocated at (most recent call last):")[2]
    # the script's frames, the allocation itself last
    assert re.search(r'File "script.py", line 6\s+File "script.py", line 3\n', sites), sites


def test_trace_fills_allocated_at_in_the_json_report(tmp_path):
    write_script(tmp_path, "ring = []\nring.append(ring)\ndel ring\n")
    refscope("run", "--trace", "-o", "report.json", "script.py", cwd=tmp_path, check_code=0)
    document = json.loads((tmp_path / "report.json").read_text())
    (obj,) = document["groups"][0]["cycles"][0]["objects"]
    assert obj["allocated_at"][-1]["filename"] == "script.py"
    assert obj["allocated_at"][-1]["lineno"] == 1


def test_no_frame_locals_leaves_local_variables_out(tmp_path):
    write_script(tmp_path, LEAKY_SCRIPT)
    with_locals = refscope("run", "script.py", cwd=tmp_path, check_code=0)
    without = refscope("run", "--no-frame-locals", "script.py", cwd=tmp_path, check_code=0)
    assert "local kept = ValueError" in with_locals.stderr
    assert "local kept = ValueError" not in without.stderr
    assert "--[local kept]-->" in without.stderr  # the edge itself is still named


def test_max_objects_caps_the_objects_shown_per_cycle(tmp_path):
    write_script(
        tmp_path,
        """
        class Link:
            pass

        first = node = Link()
        for _ in range(29):
            node.next = Link()
            node = node.next
        node.next = first
        del first, node
        """,
    )
    capped = refscope("run", "--max-objects", "4", "script.py", cwd=tmp_path, check_code=0)
    whole = refscope("run", "--max-objects", "0", "script.py", cwd=tmp_path, check_code=0)
    assert capped.stderr.count("__main__.Link  Link object") < 30
    assert whole.stderr.count("__main__.Link  Link object") == 30


def test_verbose_says_what_it_is_doing_on_stderr(tmp_path):
    write_script(tmp_path, LEAKY_SCRIPT)
    result = refscope("run", "--verbose", "script.py", cwd=tmp_path, check_code=0)
    assert "refscope: running script.py" in result.stderr
    # (10 objects from 3.11 on; 3.10 adds the instances' __dict__s)
    assert re.search(r"^refscope: analysing 1\d objects…$", result.stderr, re.M)
    assert re.search(r"^refscope: analysed 1\d objects in \d+\.\d\d s$", result.stderr, re.M)
    assert result.stdout == "script output []\n"


def test_a_long_analysis_reports_progress_without_verbose(tmp_path):
    write_script(
        tmp_path,
        """
        class Link:
            __slots__ = ("next",)

        first = node = Link()
        for _ in range(600_000):
            node.next = Link()
            node = node.next
        node.next = first
        del first, node
        """,
    )
    result = refscope("run", "script.py", cwd=tmp_path, check_code=0)
    assert "refscope: analysing 600,001 objects…" in result.stderr


def test_a_non_daemon_thread_is_waited_for_and_its_cycles_reported(tmp_path):
    write_script(
        tmp_path,
        """
        import threading
        import time

        class Worker:
            pass

        def work():
            time.sleep(0.2)
            worker = Worker()
            worker.me = worker

        threading.Thread(target=work).start()
        """,
    )
    result = refscope("run", "script.py", cwd=tmp_path, check_code=0)
    assert "__main__.Worker .me" in result.stderr


def test_a_syntax_error_is_reported_like_python_with_exit_code_1(tmp_path):
    write_script(tmp_path, "def broken(:\n    pass\n")
    result = refscope("run", "script.py", cwd=tmp_path, check_code=1)
    python = subprocess.run(
        [sys.executable, "script.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    # the error only, as python prints it (which names the script by its absolute path)
    assert result.stderr.replace('"script.py"', f'"{tmp_path / "script.py"}"') == python.stderr
    assert result.stderr.startswith('  File "script.py", line 1\n')
    assert "SyntaxError" in result.stderr
    assert "refscope" not in result.stderr  # nothing ran, so no report


def unwritable_directory(tmp_path):
    """A directory this process cannot create files in (root ignores permission bits)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    for candidate in (locked, Path("/sys"), Path("/proc/self")):
        try:
            (candidate / "probe.txt").open("a").close()
        except OSError:
            return candidate
        (candidate / "probe.txt").unlink()
    pytest.skip("no unwritable directory on this machine")


def test_an_unwritable_output_path_is_a_usage_error_before_the_script_runs(tmp_path):
    write_script(tmp_path, "raise SystemExit('the script must not run')\n")
    target = unwritable_directory(tmp_path) / "report.html"
    result = refscope("run", "-o", str(target), "script.py", cwd=tmp_path, check_code=2)
    assert f"refscope run: error: -o '{target}': cannot write there: " in result.stderr
    assert "usage: refscope run" in result.stderr
    assert "the script must not run" not in result.stderr
    assert not target.exists()


def test_an_existing_output_file_is_checked_without_being_changed(tmp_path):
    write_script(tmp_path, "raise SystemExit('the script must not run')\n")
    (tmp_path / "report.csv.txt").write_text("kept")
    refscope("run", "-o", "nowhere/r.txt", "script.py", cwd=tmp_path, check_code=2)
    result = refscope("run", "-o", "report.csv.txt", "script.py", cwd=tmp_path, check_code=1)
    assert result.stderr.startswith("the script must not run")  # it ran: the path was fine
    assert (tmp_path / "report.csv.txt").read_text().startswith("refscope: 0 cycles")


def test_one_cycle_is_counted_in_the_singular(tmp_path):
    write_script(tmp_path, "ring = []\nring.append(ring)\ndel ring\n")
    result = refscope(
        "run", "--fail-on-cycles", "-o", "report.txt", "script.py", cwd=tmp_path, check_code=3
    )
    assert result.stderr.startswith("refscope: 1 cycle (1 shape) among 1 object; report written")
    assert "refscope: the script created 1 reference cycle (exit code 3" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.py"], "error: cannot open script 'missing.py': no such file"),
        (["run", "."], "refscope run: error: '.' is a directory; give the path of a Python script"),
        (
            ["run", "-o", "report.csv", "script.py"],
            "refscope run: error: -o 'report.csv': the report format follows the file "
            "extension, which must be one of .txt, .json, .html",
        ),
        (
            ["run", "-o", "nowhere/report.txt", "script.py"],
            "refscope run: error: -o 'nowhere/report.txt': directory",
        ),
        (["run", "--max-objects", "-1", "script.py"], "refscope run: error: --max-objects must"),
        (["run", "--max-objects", "many", "script.py"], "argument --max-objects: invalid int"),
        (["run"], "refscope run: error: the following arguments are required: SCRIPT"),
        (["run", "--no-such-option", "script.py"], "unrecognized arguments: --no-such-option"),
        (["demo", "--ring-size", "0"], "refscope demo: error: --ring-size must be at least 1"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "refscope: error: a COMMAND is required"),
    ],
    ids=[
        "missing-script",
        "directory",
        "unknown-extension",
        "missing-output-directory",
        "negative-max-objects",
        "non-integer-max-objects",
        "no-script",
        "unknown-option",
        "bad-ring-size",
        "unknown-command",
        "no-command",
    ],
)
def test_bad_arguments_are_a_usage_error_with_exit_code_2(tmp_path, args, message):
    write_script(tmp_path, "raise SystemExit('the script must not run')\n")
    result = refscope(*args, cwd=tmp_path, check_code=2)
    assert message in result.stderr
    assert "usage: refscope" in result.stderr
    assert "the script must not run" not in result.stderr


def test_the_top_level_help_lists_every_command_of_the_cli_package(tmp_path):
    from refscope.cli import command_modules

    result = refscope("--help", cwd=tmp_path, check_code=0)
    for name, module in command_modules().items():
        assert re.search(rf"^    {name} +{re.escape(module.HELP.split()[0])}", result.stdout, re.M)


@pytest.mark.parametrize("command", [[], ["run"], ["demo"]], ids=["top", "run", "demo"])
def test_every_command_has_help(tmp_path, command):
    result = refscope(*command, "--help", cwd=tmp_path, check_code=0)
    assert result.stdout.startswith(f"usage: refscope{''.join(' ' + c for c in command)}")
    if command == ["run"]:
        for option in ("--output", "--trace", "--fail-on-cycles", "--no-frame-locals",
                       "--max-objects", "--verbose"):
            assert option in result.stdout
        # the exit codes are documented
        assert "3 with --fail-on-cycles" in " ".join(result.stdout.split())


def test_the_version_option_prints_the_version(tmp_path):
    import refscope as package

    result = refscope("--version", cwd=tmp_path, check_code=0)
    assert result.stdout.strip() == f"refscope {package.__version__}"


def test_demo_finds_the_recipes_cycles(tmp_path):
    result = refscope("demo", "--ring-size", "50", cwd=tmp_path, check_code=0)
    assert "__del__" in result.stdout
    assert "--[.__traceback__]-->" in result.stdout
    assert "refscope.collect(): gc.collect() found" in result.stdout


def test_the_refscope_console_script_runs_scripts_too(tmp_path):
    executable = Path(sys.executable).parent / "refscope"
    if not executable.exists():
        pytest.skip("the refscope console script is not installed next to this python")
    write_script(tmp_path, LEAKY_SCRIPT)
    result = subprocess.run(
        [str(executable), "run", "--fail-on-cycles", "script.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3, result.stderr
    assert "__main__.Node .me" in result.stderr


def test_color_wanted_is_public_and_follows_isatty_and_no_color(monkeypatch):
    import io

    import refscope as package

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert package.color_wanted(Terminal()) is True
    assert package.color_wanted(io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert package.color_wanted(Terminal()) is False
