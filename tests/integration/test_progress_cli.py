"""The progress line of `refscope snapshot`, `report`, `diff` and `serve`, on a real
terminal: each command runs with its stderr on a pseudo-terminal (the `pty` module).

`REFSCOPE_PROGRESS_DELAY=0` makes the line appear at once (the default waits a second),
so the tests neither need a heap that takes a second nor depend on timing: with a zero
delay the first frame of every phase is drawn before its work starts.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import textwrap

import pytest

ERASE = "\r\x1b[K"
SCRIPT = textwrap.dedent(
    """
    class Payload:
        pass

    HELD = [Payload() for _ in range(20_000)]
    """
)


def run_on_a_terminal(args: list[str], delay: str | None = "0") -> tuple[int, str, str]:
    """Run ``args`` with stderr on a pseudo-terminal; (exit code, stdout, what the
    terminal received)."""
    env = {k: v for k, v in os.environ.items() if k != "REFSCOPE_PROGRESS_DELAY"}
    if delay is not None:
        env["REFSCOPE_PROGRESS_DELAY"] = delay
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, env=env
        )
    finally:
        os.close(terminal)
    received = bytearray()
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], 120)
            if not ready:
                process.kill()
                raise AssertionError(f"no output for 120 s; so far {bytes(received)!r}")
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: every copy of the terminal's other end is closed
                break
            if not chunk:
                break
            received += chunk
        stdout = process.stdout.read() if process.stdout else b""
        code = process.wait(timeout=120)
    finally:
        os.close(controller)
        if process.stdout:
            process.stdout.close()
    # The terminal turns each "\n" into "\r\n" (onlcr).
    return code, stdout.decode(), received.decode().replace("\r\n", "\n")


def refscope(*args: str) -> list[str]:
    return [sys.executable, "-X", "dev", "-m", "refscope", *args]


@pytest.fixture(scope="module")
def snapshot_file(tmp_path_factory):
    directory = tmp_path_factory.mktemp("progress")
    script = directory / "payload.py"
    script.write_text(SCRIPT)
    output = directory / "heap.rscp"
    code, _, terminal = run_on_a_terminal(refscope("snapshot", "-o", str(output), str(script)))
    assert code == 0, terminal
    return output, terminal


def _drawn(terminal: str, text: str) -> list[str]:
    """The frames of the line whose text starts with ``text``."""
    return [frame for frame in terminal.split("\r") if frame.startswith(f"refscope: {text}")]


def test_snapshot_draws_the_walk_and_the_write_then_erases_them(snapshot_file):
    output, terminal = snapshot_file
    walking = _drawn(terminal, "walking the heap: ")
    assert walking, terminal
    assert walking[0].startswith("refscope: walking the heap: 0 of ")
    assert " objects (" in walking[0] and walking[0].endswith(" s)\x1b[K")
    assert _drawn(terminal, f"writing {output}")
    # Every line drawn is erased before the command's own summary is printed.
    summary = terminal.index(" written to ")
    last_frame = terminal.rindex("\rrefscope: ", 0, summary)
    assert terminal.index(ERASE, last_frame + 1) < summary
    assert terminal.rstrip("\n").endswith(f"written to {output}")
    assert "\x1b" not in terminal[summary:]


def test_report_draws_the_read_and_the_dominators_then_erases_them(snapshot_file):
    output, _ = snapshot_file
    code, stdout, terminal = run_on_a_terminal(refscope("report", str(output)))
    assert code == 0, terminal
    assert _drawn(terminal, f"reading {output}, ")
    dominators = _drawn(terminal, "computing dominators of ")
    assert dominators and " objects (" in dominators[0]
    assert terminal.endswith(ERASE)  # nothing left on the terminal
    assert "__main__.Payload" in stdout and "\x1b" not in stdout


def test_diff_draws_the_reads(snapshot_file):
    output, _ = snapshot_file
    code, stdout, terminal = run_on_a_terminal(refscope("diff", str(output), str(output)))
    assert code == 0, terminal
    assert len(_drawn(terminal, f"reading {output}")) >= 2
    assert terminal.endswith(ERASE)
    assert "objects" in stdout


def test_no_progress_and_the_default_delay_leave_the_terminal_alone(snapshot_file):
    output, _ = snapshot_file
    code, _, terminal = run_on_a_terminal(refscope("report", str(output), "--no-progress"))
    assert (code, terminal) == (0, "")
    # A small file reads in well under the default second: nothing is drawn.
    code, _, terminal = run_on_a_terminal(refscope("report", str(output)), delay=None)
    assert (code, terminal) == (0, "")


def test_nothing_is_drawn_when_stderr_is_not_a_terminal(snapshot_file):
    output, _ = snapshot_file
    env = dict(os.environ, REFSCOPE_PROGRESS_DELAY="0")
    result = subprocess.run(
        refscope("report", str(output)), capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0
    assert result.stderr == ""


def test_the_library_draws_nothing_unless_asked(tmp_path):
    program = textwrap.dedent(
        f"""
        import refscope
        snap = refscope.snapshot()
        snap.save({str(tmp_path / "quiet.rscp")!r})
        refscope.load({str(tmp_path / "quiet.rscp")!r}).compute_dominators()
        refscope.snapshot(progress=True)
        """
    )
    code, _, terminal = run_on_a_terminal([sys.executable, "-X", "dev", "-c", program])
    assert code == 0, terminal
    assert _drawn(terminal, "walking the heap: ")  # only the call that asked
    assert not _drawn(terminal, "reading") and not _drawn(terminal, "computing")
    assert len(_drawn(terminal, "walking the heap: 0 of ")) == 1
    assert terminal.endswith(ERASE)
