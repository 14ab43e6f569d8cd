"""The progress line of `refscope snapshot`, `report`, `diff` and `serve`, on a real
terminal: each command runs with its stderr on a pseudo-terminal (the `pty` module).

`REFSCOPE_PROGRESS_DELAY=0` makes the line appear at once (the default waits a second)
and `REFSCOPE_PROGRESS_INTERVAL=0` draws every report the native loops make (one per
65,536 objects or 1 MiB; the default redraws at most ten times a second), so the tests
neither need a heap that takes a second nor depend on timing: every frame is drawn.
"""

from __future__ import annotations

import os
import pty
import re
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

    HELD = [Payload() for _ in range(200_000)]
    """
)


def run_on_a_terminal(
    args: list[str], delay: str | None = "0", interval: str | None = "0"
) -> tuple[int, str, str]:
    """Run ``args`` with stderr on a pseudo-terminal; (exit code, stdout, what the
    terminal received)."""
    knobs = {"REFSCOPE_PROGRESS_DELAY": delay, "REFSCOPE_PROGRESS_INTERVAL": interval}
    env = {k: v for k, v in os.environ.items() if k not in knobs}
    env.update({k: v for k, v in knobs.items() if v is not None})
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


COUNTS = re.compile(r": ([\d,]+) of ([\d,]+) (objects|bytes) \(\d+\.\d s\)\x1b\[K$")
STEP = re.compile(r" \(step (\d) of (\d), [a-z ]+\): ")


def _counts(frames: list[str]) -> list[tuple[int, int, str]]:
    """(done, total, unit) of each frame."""
    counts = []
    for frame in frames:
        match = COUNTS.search(frame)
        assert match, frame
        done, total = (int(group.replace(",", "")) for group in match.group(1, 2))
        counts.append((done, total, match.group(3)))
    return counts


def assert_counts_rise(frames: list[str], unit: str) -> None:
    """Several frames, their counts going up, never past the total."""
    counts = _counts(frames)
    assert len(counts) >= 3, frames
    assert all(u == unit and done <= total for done, total, u in counts), frames
    dones = [done for done, _, _ in counts]
    assert dones == sorted(dones) and dones[-1] > dones[0], frames


def assert_steps_count_up(frames: list[str], steps: int, unit_of_step: dict[int, str]) -> None:
    """Steps 1 to ``steps`` in order, each with its own rising counts."""
    by_step: dict[int, list[str]] = {}
    order = []
    for frame in frames:
        match = STEP.search(frame)
        assert match and int(match.group(2)) == steps, frame
        number = int(match.group(1))
        if not order or order[-1] != number:
            order.append(number)
        by_step.setdefault(number, []).append(frame)
    assert order == list(range(1, steps + 1)), frames
    for number, step_frames in by_step.items():
        assert_counts_rise(step_frames, unit_of_step[number])


def test_snapshot_draws_the_walk_and_the_write_then_erases_them(snapshot_file):
    output, terminal = snapshot_file
    walking = _drawn(terminal, "walking the heap: ")
    assert walking, terminal
    assert walking[0].startswith("refscope: walking the heap: 0 of ")
    assert " objects (" in walking[0] and walking[0].endswith(" s)\x1b[K")
    assert_counts_rise(walking, "objects")
    assert _drawn(terminal, f"writing {output}")
    # Every line drawn is erased before the command's own summary is printed.
    summary = terminal.index(" written to ")
    last_frame = terminal.rindex("\rrefscope: ", 0, summary)
    assert terminal.index(ERASE, last_frame + 1) < summary
    assert terminal.rstrip("\n").endswith(f"written to {output}")
    assert "\x1b" not in terminal[summary:]


def test_report_counts_the_load_and_the_dominators_then_erases_them(snapshot_file):
    output, _ = snapshot_file
    code, stdout, terminal = run_on_a_terminal(refscope("report", str(output)))
    assert code == 0, terminal
    loading = _drawn(terminal, f"loading {output} (step ")
    assert loading[0].startswith(f"refscope: loading {output} (step 1 of 3, reading): 0 of ")
    assert_steps_count_up(loading, 3, dict.fromkeys(range(1, 4), "bytes"))
    # The file's size is the total of the reading step, and all of it is read.
    size = output.stat().st_size
    assert _counts(loading)[0][1] == size
    assert f": {size:,} of {size:,} bytes (" in terminal
    dominators = _drawn(terminal, "computing dominators (step ")
    # Step 1 marks what the roots reach, then four steps of the dominator algorithm.
    assert_steps_count_up(dominators, 5, dict.fromkeys(range(1, 6), "objects"))
    # Every frame is drawn after the load's and before the report is printed.
    assert terminal.index(dominators[0]) > terminal.index(loading[-1])
    assert terminal.endswith(ERASE)  # nothing left on the terminal
    assert "__main__.Payload" in stdout and "\x1b" not in stdout


def test_diff_draws_the_reads(snapshot_file):
    output, _ = snapshot_file
    code, stdout, terminal = run_on_a_terminal(refscope("diff", str(output), str(output)))
    assert code == 0, terminal
    loads = _drawn(terminal, f"loading {output} (step 1 of 3, reading): 0 of ")
    assert len(loads) == 2, terminal
    assert terminal.endswith(ERASE)
    assert "objects" in stdout


def test_no_progress_and_the_default_delay_leave_the_terminal_alone(snapshot_file):
    output, _ = snapshot_file
    code, _, terminal = run_on_a_terminal(refscope("report", str(output), "--no-progress"))
    assert (code, terminal) == (0, "")
    # A small file reads in well under the default second: nothing is drawn.
    code, _, terminal = run_on_a_terminal(
        refscope("report", str(output)), delay=None, interval=None
    )
    assert (code, terminal) == (0, "")


def test_nothing_is_drawn_when_stderr_is_not_a_terminal(snapshot_file):
    output, _ = snapshot_file
    env = dict(os.environ, REFSCOPE_PROGRESS_DELAY="0", REFSCOPE_PROGRESS_INTERVAL="0")
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
    assert not _drawn(terminal, "loading") and not _drawn(terminal, "computing")
    assert len(_drawn(terminal, "walking the heap: 0 of ")) == 1
    assert terminal.endswith(ERASE)
