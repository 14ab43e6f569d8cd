"""`refscope attach PID` on real processes: the recipe's Tornado server under load from a
client on 127.0.0.1, and targets that fail each documented way.

The target is this test run's own interpreter (sys.executable, which has refscope
installed), so `make test` covers every CPython 3.10-3.13 present.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from ._live_servers import EXAMPLE_SERVER, http_get

pytest.importorskip("tornado")

LEAK_SIGNATURE = "__main__.A .b -> __main__.B .a"
NO_DEBUGGER = (
    "refscope attach tests need lldb (Debian: apt-get install lldb-16, which "
    "scripts/ensure-system-deps.sh installs) or a gdb that can call functions in a process"
)


def refscope(*args, env=None, timeout=180, check_code=None):
    result = subprocess.run(
        [sys.executable, "-m", "refscope", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if check_code is not None:
        assert result.returncode == check_code, (result.returncode, result.stdout, result.stderr)
    return result


def start(argv, env=None, ready="ready"):
    """A target process; returns it once it printed a line containing ``ready``."""
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    line = process.stdout.readline()
    if ready not in line:
        process.kill()
        raise RuntimeError(f"target did not start: {line!r} {process.stderr.read()}")
    process.first_line = line
    return process


def stop(process):
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)
    process.stdout.close()
    process.stderr.close()


def python_target(tmp_path, source, *flags, env=None):
    script = tmp_path / "target.py"
    script.write_text(textwrap.dedent(source))
    return start([sys.executable, *flags, str(script)], env=env)


LOOPING_TARGET = """
    import time
    print("ready", flush=True)
    while True:
        time.sleep(0.01)
"""


@pytest.fixture(scope="module")
def attach_works(tmp_path_factory):
    """Skip (with the reason) where no debugger can attach here."""
    if not (shutil.which("lldb") or shutil.which("lldb-16") or shutil.which("gdb")):
        pytest.skip(NO_DEBUGGER)
    process = python_target(tmp_path_factory.mktemp("probe"), LOOPING_TARGET)
    try:
        result = refscope("attach", "--top", "--limit", "1", str(process.pid))
    finally:
        stop(process)
    if result.returncode == 6:
        pytest.skip(f"ptrace is not permitted in this sandbox: {result.stderr.strip()}")
    if result.returncode == 7:
        pytest.skip(f"{NO_DEBUGGER}: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr


# A wrapper that runs examples/tornado_server.py unchanged as __main__, with a second,
# stdlib-only endpoint on another port that tells the gc state the attach must not change.
STATE_SERVER = """
    import gc, http.server, json, runpy, sys, threading

    class State(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({
                "callbacks": len(gc.callbacks),
                "debug": gc.get_debug(),
                "enabled": gc.isenabled(),
                "threshold": list(gc.get_threshold()),
                "garbage": len(gc.garbage),
                "threads": sorted(
                    t.name for t in threading.enumerate() if t is not threading.current_thread()
                ),
            }).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    state = http.server.ThreadingHTTPServer(("127.0.0.1", 0), State)
    threading.Thread(target=state.serve_forever, name="state", daemon=True).start()
    print("state on", state.server_address[1], flush=True)
    sys.argv = [sys.argv[1], *sys.argv[2:]]
    runpy.run_path(sys.argv[0], run_name="__main__")
"""


class LeakyServer:
    def __init__(self, tmp_path, *args):
        wrapper = tmp_path / "state_server.py"
        wrapper.write_text(textwrap.dedent(STATE_SERVER))
        self.process = start(
            [sys.executable, str(wrapper), str(EXAMPLE_SERVER), "--port", "0", *args],
            ready="state on",
        )
        self.state_port = int(self.process.first_line.split()[-1])
        line = self.process.stdout.readline()
        assert "listening on" in line, line
        self.port = int(line.split("127.0.0.1:")[1].split("/")[0])

    def get(self, path):
        return http_get(self.port, path)

    def state(self):
        return http_get(self.state_port, "/").json()

    def leak(self, times):
        for _ in range(times):
            assert self.get("/leak/").text == "leaked\n"


class Load:
    """A client on 127.0.0.1 requesting ``path`` over and over while attach runs."""

    def __init__(self, port, path="/dummy/"):
        self.port, self.path = port, path
        self.answered = 0
        self.failures = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                reply = http_get(self.port, self.path, timeout=60)
                if reply.status == 200:
                    self.answered += 1
                else:
                    self.failures.append(reply.status)
            except OSError as error:
                self.failures.append(repr(error))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(timeout=120)


@pytest.fixture
def leaky_server(tmp_path, attach_works):
    server = LeakyServer(tmp_path)
    yield server
    stop(server.process)


def leak_group(document):
    matching = [g for g in document["groups"] if g["signature"] == LEAK_SIGNATURE]
    return matching[0] if matching else None


def test_collect_names_the_leak_group_with_its_count_while_the_server_keeps_answering(
    leaky_server, tmp_path
):
    before = leaky_server.state()
    leaky_server.leak(25)
    with Load(leaky_server.port) as load:
        answered_before = load.answered
        result = refscope(
            "attach", str(leaky_server.process.pid), "--collect", "-o", str(tmp_path / "r.json"),
            check_code=0,
        )
        answered_during = load.answered - answered_before
    assert load.failures == []
    assert answered_during > 0
    document = json.loads((tmp_path / "r.json").read_text())
    group = leak_group(document)
    assert group is not None, [g["signature"] for g in document["groups"]]
    assert group["count"] == 25
    assert group["has_finalizer"] is True
    assert f"attached to process {leaky_server.process.pid} (Python " in result.stderr
    assert "report written to" in result.stderr
    assert leaky_server.get("/dummy/").text == "ok\n"
    assert leaky_server.state() == before  # gc flags, callbacks, garbage, threads as before


def test_attach_twice_in_a_row_reports_only_what_is_new(leaky_server):
    leaky_server.leak(3)
    # An idle event loop runs no Python code, so it would never reach the safe point:
    # attach while a client keeps it busy (docs/attach.md).
    with Load(leaky_server.port):
        first = refscope("attach", str(leaky_server.process.pid), check_code=0)
    assert "×3 " in first.stdout and LEAK_SIGNATURE in first.stdout
    leaky_server.leak(2)
    with Load(leaky_server.port):
        second = refscope("attach", str(leaky_server.process.pid), check_code=0)
    line = next(line for line in second.stdout.splitlines() if LEAK_SIGNATURE in line)
    assert line.split()[0] == "×2"
    assert leaky_server.get("/dummy/").text == "ok\n"


def test_the_text_report_goes_to_stdout_and_html_to_a_file(leaky_server, tmp_path):
    leaky_server.leak(4)
    page = tmp_path / "report.html"
    with Load(leaky_server.port):
        refscope("attach", str(leaky_server.process.pid), "-o", str(page), check_code=0)
    html = page.read_text()
    assert html.lstrip().lower().startswith("<!doctype html")
    assert "__main__.B" in html


def test_monitor_reports_the_collections_of_its_seconds_and_leaves_no_callback(
    tmp_path, attach_works
):
    server = LeakyServer(tmp_path, "--gc")  # automatic collections, which the Monitor samples
    try:
        before = server.state()
        with Load(server.port, "/leak/") as load:
            result = refscope(
                "attach", str(server.process.pid), "--monitor", "5",
                "-o", str(tmp_path / "monitor.json"), check_code=0,
            )
        assert load.failures == [] and load.answered > 0
        document = json.loads((tmp_path / "monitor.json").read_text())
        assert document["stats"]["collections_seen"] > 0
        assert document["stats"]["running"] is False
        assert any(g["signature"] == LEAK_SIGNATURE for g in document["groups"]), document
        assert "collection" in result.stderr
        after = server.state()
        assert after["callbacks"] == before["callbacks"]  # the Monitor's callback is gone
        assert after == before
    finally:
        stop(server.process)


def test_top_counts_objects_by_type(leaky_server):
    leaky_server.leak(10)
    with Load(leaky_server.port):
        result = refscope("attach", str(leaky_server.process.pid), "--top", "--limit", "0",
                          check_code=0)
    assert "refscope top:" in result.stdout
    assert "__main__.A" in result.stdout  # the leaked A's (gc is off in the recipe's server)


def test_top_json_lists_types_with_counts(leaky_server, tmp_path):
    leaky_server.leak(10)
    out = tmp_path / "top.json"
    with Load(leaky_server.port):
        refscope("attach", str(leaky_server.process.pid), "--top", "--limit", "0",
                 "-o", str(out), check_code=0)
    document = json.loads(out.read_text())
    assert document["format"] == "refscope.top"
    counts = {row["type"]: row["count"] for row in document["types"]}
    assert counts["__main__.A"] >= 10 and counts["__main__.B"] >= 10


def test_snapshot_writes_a_file_that_refscope_load_reads(leaky_server, tmp_path):
    import refscope as package

    leaky_server.leak(12)
    before = leaky_server.state()
    path = tmp_path / "heap.snap"
    with Load(leaky_server.port):
        result = refscope("attach", str(leaky_server.process.pid), "--snapshot", "-o", str(path),
                          check_code=0)
    assert f"snapshot written to {path}" in result.stderr
    assert "snapshot of " in result.stderr
    snap = package.load(path)
    assert snap.pid == leaky_server.process.pid
    counts = {row.name: row.count for row in snap.top_types()}
    assert counts.get("__main__.B", 0) >= 12  # gc is off: the leaked pairs are still there
    assert leaky_server.get("/dummy/").text == "ok\n"
    assert leaky_server.state() == before


def test_snapshot_in_the_devtools_format(leaky_server, tmp_path):
    path = tmp_path / "heap.heapsnapshot"
    with Load(leaky_server.port):
        refscope("attach", str(leaky_server.process.pid), "--snapshot", "-o", str(path),
                 check_code=0)
    document = json.loads(path.read_text())
    assert "snapshot" in document and "nodes" in document


# --- the documented failures ------------------------------------------------------------


def test_no_such_process_exits_4():
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    pid = int(finished.stdout)
    result = refscope("attach", str(pid), check_code=4)
    assert f"refscope attach: error: no process with id {pid}" in result.stderr


def test_a_process_that_is_not_python_exits_5(attach_works):
    process = start(["sh", "-c", "echo ready; exec sleep 600"])
    try:
        result = refscope("attach", str(process.pid), check_code=5)
        assert f"process {process.pid} is not a CPython process" in result.stderr
        assert process.poll() is None  # still running, not stopped
    finally:
        stop(process)


def test_permission_denied_exits_6_and_says_how_to_allow_it(tmp_path):
    setpriv = shutil.which("setpriv")
    if os.geteuid() == 0:
        if setpriv is None:
            pytest.skip("setpriv is needed to run the caller as another user")
        # A python the other user can run: this one may live under a home it cannot read.
        python = next(
            (p for p in ("/usr/bin/python3", sys.executable) if os.access(p, os.X_OK)), None
        )
        as_nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", python, "-S"]
        site = str(Path(__import__("refscope").__file__).resolve().parent.parent)
        probe = subprocess.run(
            [*as_nobody, "-c", f"import sys; sys.path.insert(0, {site!r}); import refscope"],
            capture_output=True, text=True, timeout=120,
        )
        if probe.returncode != 0:
            pytest.skip(f"user nobody cannot run refscope here: {probe.stderr.strip()[-300:]}")
        target = start(["sh", "-c", "echo ready; exec sleep 600"])
        caller = [
            *as_nobody, "-c",
            f"import sys; sys.path.insert(0, {site!r}); from refscope.cli import main; "
            f"sys.exit(main(['attach', '{target.pid}']))",
        ]
        try:
            result = subprocess.run(caller, capture_output=True, text=True, timeout=120)
        finally:
            stop(target)
        pid = target.pid
    else:
        pid = 1  # owned by root
        result = refscope("attach", "1")
    assert result.returncode == 6, (result.returncode, result.stderr)
    assert f"process {pid} " in result.stderr
    assert "CAP_SYS_PTRACE" in result.stderr and "kernel.yama.ptrace_scope" in result.stderr


def test_no_debugger_on_path_exits_7_and_names_the_package(tmp_path):
    process = python_target(tmp_path, LOOPING_TARGET)
    try:
        result = refscope("attach", str(process.pid), env={"PATH": str(tmp_path / "empty")})
    finally:
        stop(process)
    if sys.version_info >= (3, 14):
        pytest.skip("CPython 3.14+ attaches with sys.remote_exec, without a debugger")
    assert result.returncode == 7, result.stderr
    assert "no debugger found" in result.stderr
    assert "apt-get install lldb-16" in result.stderr


def test_gdb_either_works_or_says_to_install_lldb(tmp_path, attach_works):
    if not shutil.which("gdb"):
        pytest.skip("gdb is not installed")
    process = python_target(tmp_path, LOOPING_TARGET)
    try:
        result = refscope("attach", str(process.pid), "--top", "--debugger", "gdb")
        assert process.poll() is None
    finally:
        stop(process)
    if result.returncode == 0:
        assert "with gdb" in result.stderr
    else:
        assert result.returncode == 7, result.stderr
        assert "gdb is not usable on this machine" in result.stderr
        assert "apt-get install lldb-16" in result.stderr


def test_refscope_missing_in_the_target_exits_8(tmp_path, attach_works):
    process = python_target(tmp_path, LOOPING_TARGET, "-S")  # -S: no site-packages
    try:
        result = refscope("attach", str(process.pid), check_code=8)
        assert f"refscope is not installed in process {process.pid}'s environment" in (
            result.stderr
        )
        assert "ModuleNotFoundError" in result.stderr
        assert process.poll() is None
    finally:
        stop(process)


def test_another_refscope_version_in_the_target_exits_8(tmp_path, attach_works):
    fake = tmp_path / "other" / "refscope"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("__version__ = '0.0.0.other'\n")
    process = python_target(
        tmp_path, LOOPING_TARGET, env={"PYTHONPATH": str(tmp_path / "other")}
    )
    try:
        result = refscope("attach", str(process.pid), check_code=8)
        assert f"process {process.pid} has refscope 0.0.0.other" in result.stderr
    finally:
        stop(process)


STUCK_TARGET = """
    import gc, signal, sys, threading, time

    class Woken(Exception):
        pass

    def wake(signum, frame):
        # Runs in the main thread, which also runs the call refscope queued (signal
        # handlers and pending calls are handled at the same check of the eval breaker).
        raise Woken

    signal.signal(signal.SIGUSR1, wake)
    callbacks = len(gc.callbacks)
    print("ready", flush=True)
    try:
        time.sleep(600)  # C code: the main thread reaches no safe point until a signal
    except Woken:
        print("woken", flush=True)
    for _ in range(3):
        time.sleep(0)  # a few more checks of the eval breaker
    print(
        "state", callbacks == len(gc.callbacks), "refscope" in sys.modules,
        sorted(t.name for t in threading.enumerate()), flush=True,
    )
"""


def test_a_target_stuck_in_c_code_times_out_and_is_left_untouched(tmp_path, attach_works):
    process = python_target(tmp_path, STUCK_TARGET)
    try:
        result = refscope("attach", str(process.pid), "--timeout", "3", check_code=9)
        assert f"process {process.pid} did not reach a safe point within 3 s" in result.stderr
        assert "Nothing ran in it" in result.stderr
        assert process.poll() is None
        process.send_signal(signal.SIGUSR1)  # wake it: the queued call finds nothing to do
        assert process.stdout.readline() == "woken\n"
        assert process.stdout.readline() == "state True False ['MainThread']\n"
        assert process.wait(timeout=60) == 0
    finally:
        stop(process)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["attach"], "the following arguments are required: PID"),
        (["attach", "0"], "PID must be a positive process id"),
        (["attach", "1", "--monitor", "0"], "--monitor SECONDS must be more than 0"),
        (["attach", "1", "--top", "--monitor", "5"], "not allowed with argument"),
        (["attach", "1", "-o", "r.csv"], "the report format follows the file extension"),
        (["attach", "1", "--top", "-o", "r.html"], "--top writes text, json"),
        (["attach", "1", "--timeout", "0"], "--timeout must be more than 0 seconds"),
        (["attach", "1", "--snapshot"], "--snapshot needs -o FILE"),
        (["attach", "1", "--snapshot", "-o", "nowhere/heap.snap"], "does not exist"),
    ],
    ids=["no-pid", "zero-pid", "zero-monitor", "two-actions", "bad-extension", "top-html",
         "zero-timeout", "snapshot-without-file", "snapshot-missing-directory"],
)
def test_bad_arguments_are_usage_errors(args, message):
    result = refscope(*args, check_code=2)
    assert message in result.stderr
    assert "usage: refscope attach" in result.stderr


def test_attach_has_its_own_help():
    result = refscope("attach", "--help", check_code=0)
    assert result.stdout.startswith("usage: refscope attach")
    for option in ("--collect", "--snapshot", "--monitor", "--top", "--timeout", "--debugger"):
        assert option in result.stdout
    assert "9 the target did not reach a safe point" in " ".join(result.stdout.split())
