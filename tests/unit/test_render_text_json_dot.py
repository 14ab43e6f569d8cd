"""Text, JSON and DOT renderings: golden files on deterministic cycles, colour rules, limits.

Golden files live in tests/golden/. After an intended change of a format, regenerate them
with ``REFSCOPE_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_render_text_json_dot.py``
and review the diff.
"""

import os
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

import refscope

GOLDEN = pathlib.Path(__file__).resolve().parent.parent / "golden"


# --- a deterministic report ---------------------------------------------------------------
# Classes claim the module "app" so that type names (and so signatures and keys) do not
# depend on how pytest imported this file.


class Parent:
    __module__ = "app"

    def __init__(self):
        self.child = Child(self)


class Child:
    __module__ = "app"

    def __init__(self, parent):
        self.parent = parent


class Connection:
    __module__ = "app"

    def __init__(self):
        self.cursor = Cursor(self)

    def __del__(self):
        pass


class Cursor:
    __module__ = "app"

    def __init__(self, connection):
        self.connection = connection


def deterministic_objects():
    """Three Parent/Child pairs, two Connection/Cursor pairs with a finaliser, and a dict
    whose key text needs escaping in every format: group counts 3, 2, 1, so that their
    order does not depend on object sizes (which vary between CPython versions)."""
    objects = []
    for _ in range(3):
        parent = Parent()
        objects += [parent, parent.child]
    for _ in range(2):
        connection = Connection()
        objects += [connection, connection.cursor]
    tricky = {}
    tricky['say "hi"\\\n<b>&</b>'] = tricky
    objects.append(tricky)
    return objects


def normalised(text):
    """Sizes vary between CPython versions, addresses between runs."""
    text = re.sub(r" *\b\d+(?:\.\d)? (?:B|KiB|MiB|GiB)\b", " <size>", text)
    text = re.sub(r'"(address|size|total_size)": \d+', r'"\1": 0', text)
    return text


def check_golden(name, text):
    path = GOLDEN / name
    if os.environ.get("REFSCOPE_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from the golden file; see the docstring to update it"


@pytest.fixture
def report():
    objects = deterministic_objects()
    yield refscope.find_cycles(objects, keep_objects=False)
    del objects[:]


# --- text ---------------------------------------------------------------------------------


def test_text_matches_the_golden_file(report):
    check_golden("report.txt", normalised(report.to_text(color=False)))


def test_text_lists_groups_first_with_the_largest_first(report):
    text = report.to_text(color=False)
    summary = text.split("\n\n")[1].splitlines()
    assert summary[0] == "Groups, largest first:"
    assert summary[1].startswith("  ×3 ")
    assert "app.Child .parent -> app.Parent .child" in summary[1]
    assert text.index("Groups, largest first:") < text.index("Group 1:") < text.index("Cycle 1:")


def test_ten_thousand_identical_leaks_are_one_line_with_a_count_and_one_example():
    gc_objects = []
    for _ in range(10_000):
        parent = Parent()
        gc_objects += [parent, parent.child]
    report = refscope.find_cycles(gc_objects, keep_objects=False)
    text = report.to_text(color=False)
    summary = r"^  ×10000 .* app\.Child \.parent -> app\.Parent \.child$"
    assert re.search(summary, text, re.M), text[:500]
    assert text.count("Cycle ") == 1
    assert "… 9999 more cycles of this shape" in text
    more = report.to_text(color=False, max_cycles_per_group=3)
    assert more.count("Cycle ") == 3 and "… 9997 more cycles" in more


def test_text_has_colour_only_when_asked(report):
    assert "\x1b[" in report.to_text(color=True)
    assert "\x1b[" not in report.to_text(color=False)
    assert "\x1b[" not in str(report)


def test_text_limits_must_be_non_negative_ints(report):
    with pytest.raises(ValueError, match="max_cycles_per_group must be >= 0"):
        report.to_text(max_cycles_per_group=-1)
    with pytest.raises(TypeError, match="max_groups must be an int"):
        report.to_text(max_groups="3")


def test_max_groups_details_only_the_largest_groups(report):
    text = report.to_text(color=False, max_groups=1)
    assert "Group 1:" in text and "Group 2:" not in text
    assert "… 2 more groups not detailed" in text


COLOUR_SCRIPT = textwrap.dedent(
    """
    import refscope
    a, b = [], []
    a.append(b)
    b.append(a)
    print(refscope.find_cycles([a, b]).to_text())
    """
)


def run_under_a_terminal(env):
    """Runs COLOUR_SCRIPT with its stdout on a real pseudo-terminal; returns what it wrote."""
    pty = pytest.importorskip("pty")
    controller, terminal = pty.openpty()
    try:
        subprocess.run(
            [sys.executable, "-c", COLOUR_SCRIPT],
            stdout=terminal,
            stderr=subprocess.PIPE,
            env=env,
            check=True,
            timeout=60,
        )
    finally:
        os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the terminal side is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    return b"".join(chunks).decode()


def test_text_is_coloured_on_a_terminal_unless_no_color_is_set():
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    assert "\x1b[" in run_under_a_terminal(env)
    assert "\x1b[" not in run_under_a_terminal({**env, "NO_COLOR": "1"})


def test_text_is_not_coloured_when_piped():
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    piped = subprocess.run(
        [sys.executable, "-c", COLOUR_SCRIPT], capture_output=True, text=True, env=env, check=True
    )
    assert "refscope: 1 cycle" in piped.stdout
    assert "\x1b[" not in piped.stdout


def test_frame_in_a_cycle_shows_location_locals_and_stack_oldest_call_first():
    def fail():
        try:
            raise ValueError("boom")
        except ValueError as caught:
            kept = caught
        return kept

    def outer():
        return fail()

    import gc

    gc.disable()
    outer()
    report = refscope.collect()
    text = report.to_text(color=False, max_objects_per_cycle=0)
    this_file = __file__
    assert f"frame {this_file}:" in text and " in test_frame_in_a_cycle" in text
    assert "local kept = ValueError exception: 'boom'" in text
    assert "Stack (most recent call last):" in text
    stack = text[text.index("Stack (most recent call last):") :]
    outer_line = stack.index(", in test_frame_in_a_cycle_shows_location_locals_and_stack")
    fail_line = stack.index(".<locals>.fail\n")
    assert outer_line < stack.index(".<locals>.outer\n") < fail_line
