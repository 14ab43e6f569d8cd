"""Text, JSON and DOT renderings: golden files on deterministic cycles, colour rules, limits.

Golden files live in tests/golden/. After an intended change of a format, regenerate them
with ``REFSCOPE_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_render_text_json_dot.py``
and review the diff.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap
from xml.etree import ElementTree

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
    assert "… 2 more groups, none larger than these" in text


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
    # Function names are qualified (…<locals>.fail) from CPython 3.11 on, bare before.
    assert re.search(rf"frame {re.escape(this_file)}:\d+ in (\S+\.<locals>\.)?fail\n", text), text
    assert "local kept = ValueError exception: 'boom'" in text
    assert "Stack (most recent call last):" in text
    stack = text[text.index("Stack (most recent call last):") :]
    outer_line = stack.index(", in test_frame_in_a_cycle_shows_location_locals_and_stack")
    outer_at = re.search(r", in (\S+\.<locals>\.)?outer\n", stack).start()
    fail_at = re.search(r", in (\S+\.<locals>\.)?fail\n", stack).start()
    assert outer_line < outer_at < fail_at


# --- JSON ---------------------------------------------------------------------------------

SCHEMA_PATH = pathlib.Path(refscope.__file__).parent / "schema" / "report-v1.json"


@pytest.fixture(scope="module")
def validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def assert_valid(validator, text):
    document = json.loads(text)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    return document


def test_json_matches_the_golden_file(report):
    text = report.to_json(indent=2)
    text = re.sub(r'"generator": "refscope [^"]*"', '"generator": "refscope <version>"', text)
    check_golden("report.json", normalised(text) + "\n")


def test_json_is_valid_against_the_shipped_schema(report, validator):
    document = assert_valid(validator, report.to_json())
    assert document["format"] == "refscope.report" and document["version"] == 1
    assert [g["count"] for g in document["groups"]] == [3, 2, 1]


def test_json_of_a_frame_cycle_is_valid_and_carries_location_locals_and_stack(validator):
    import gc

    def fail():
        try:
            raise ValueError("boom")
        except ValueError as caught:
            kept = caught
        return kept

    gc.disable()
    fail()
    document = assert_valid(validator, refscope.collect().to_json())
    frames = [
        obj["frame"]
        for group in document["groups"]
        for cycle in group["cycles"]
        for obj in cycle["objects"]
        if obj["kind"] == "frame"
    ]
    assert frames, document
    frame = frames[0]
    assert frame["location"]["filename"] == __file__
    assert frame["location"]["function"] in ("fail", f"{fail.__qualname__}")
    assert {"name": "kept", "value": "ValueError exception: 'boom'"} in frame["locals"]
    assert frame["stack"][0] == frame["location"]
    assert len(frame["stack"]) > 1


def test_json_of_an_empty_report_is_valid(validator):
    document = assert_valid(validator, refscope.find_cycles([]).to_json())
    assert document["groups"] == [] and document["summary"]["cycle_count"] == 0


def test_json_keeps_user_text_exact_through_escaping(report):
    document = json.loads(report.to_json())
    (tricky,) = [g for g in document["groups"] if g["signature"].startswith("dict")]
    (entry,) = [c for c in report.cycles if c.types == ["dict"]][0].entries
    assert tricky["cycles"][0]["objects"][0]["label"] == entry.label
    assert '"' in entry.label and "<b>" in entry.label and "\\" in entry.label


def test_json_caps_cycles_per_group_and_says_how_many_it_left_out():
    objects = []
    for _ in range(1000):
        parent = Parent()
        objects += [parent, parent.child]
    report = refscope.find_cycles(objects, keep_objects=False)
    (group,) = json.loads(report.to_json())["groups"]
    assert group["count"] == 1000
    assert len(group["cycles"]) == 10 and group["cycles_omitted"] == 990
    (group,) = json.loads(report.to_json(max_cycles_per_group=0))["groups"]
    assert len(group["cycles"]) == 1000 and group["cycles_omitted"] == 0


def test_json_written_to_a_path_is_the_returned_text(report, tmp_path):
    target = tmp_path / "report.json"
    text = report.to_json(target)
    assert target.read_text(encoding="utf-8") == text


def test_json_to_an_unwritable_or_invalid_path_raises_a_clear_oserror(report, tmp_path):
    missing = tmp_path / "no" / "such" / "dir" / "report.json"
    with pytest.raises(OSError, match="cannot write the JSON report") as caught:
        report.to_json(missing)
    assert caught.value.filename == str(missing)
    with pytest.raises(OSError, match="cannot write the JSON report"):
        report.to_json(tmp_path)  # a directory
    with pytest.raises(OSError, match="invalid path"):
        report.to_json("bad\0name.json")
    with pytest.raises(TypeError, match="must be a str or os.PathLike"):
        report.to_json(3)
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(PermissionError, match="cannot write the JSON report"):
            report.to_json(locked / "report.json")


# --- DOT ----------------------------------------------------------------------------------

TRICKY_NAME = 'Say "hi" \\N & &lt; <b>bold</b>'


def graphviz_dot():
    path = shutil.which("dot")
    if path is None:
        pytest.skip("Graphviz `dot` is not installed (scripts/ensure-system-deps.sh installs it)")
    return path


def dot_to_svg(source):
    """Runs Debian's Graphviz on the DOT source; returns the parsed SVG document."""
    result = subprocess.run(
        [graphviz_dot(), "-Tsvg"], input=source.encode(), capture_output=True, timeout=120
    )
    assert result.returncode == 0, result.stderr.decode()
    assert b"Warning" not in result.stderr and b"Error" not in result.stderr, result.stderr
    return ElementTree.fromstring(result.stdout)


def svg_texts(svg):
    return ["".join(t.itertext()) for t in svg.iter("{http://www.w3.org/2000/svg}text")]


def test_dot_matches_the_golden_file(report):
    check_golden("report.dot", normalised(report.to_dot()))


def test_graphviz_renders_the_dot_of_every_group(report):
    svg = dot_to_svg(report.to_dot())
    texts = svg_texts(svg)
    assert sum(text.startswith("Group ") for text in texts) == 3
    assert "app.Parent" in texts and "app.Cursor" in texts


def test_hostile_names_and_labels_survive_graphviz_as_plain_text():
    tricky_type = type(TRICKY_NAME, (), {"__module__": "app"})
    node = tricky_type()
    setattr(node, "line\nbreak", node)
    holder = {TRICKY_NAME: None}
    holder[TRICKY_NAME] = holder
    report = refscope.find_cycles([node, holder])
    texts = svg_texts(dot_to_svg(report.to_dot()))
    assert f"app.{TRICKY_NAME}" in texts, texts
    labels = [entry.label for cycle in report.cycles for entry in cycle.entries]
    for label in labels:
        assert label in texts, (label, texts)


def test_dot_draws_finalisers_red_frames_as_hexagons_and_the_hint_edge_orange():
    import gc

    def fail():
        try:
            raise ValueError("boom")
        except ValueError as caught:
            kept = caught
        return kept

    gc.disable()
    fail()
    Connection()
    report = refscope.collect()
    source = report.to_dot()
    node_lines = [line for line in source.splitlines() if "label=" in line and "->" not in line]
    connection_line = next(line for line in node_lines if "app.Connection" in line)
    # One palette: the finaliser red and the orange of the edge to break are those of
    # refscope's own SVG picture (and of the HTML page) of the same report.
    red, orange = "#dc2626", "#ea580c"
    assert f'fillcolor="{red}"' in connection_line
    frame_line = next(line for line in node_lines if 'label="frame\\n' in line)
    assert "shape=hexagon" in frame_line
    assert f'color="{orange}"' in source
    picture = report.to_svg()
    assert f'fill="{red}"' in picture.split('data-finalizer="true"')[1].split("</g>")[0]
    assert f'stroke="{orange}"' in picture.split('class="edge break"')[1].split("</g>")[0]
    dot_to_svg(source)


def test_dot_caps_groups_cycles_and_objects():
    objects = []
    for _ in range(5):
        parent = Parent()
        objects += [parent, parent.child]
    ring = [[] for _ in range(100)]
    for here, there in zip(ring, ring[1:] + ring[:1], strict=True):
        here.append(there)
    objects += ring
    report = refscope.find_cycles(objects, keep_objects=False)
    source = report.to_dot(max_groups=1, max_cycles_per_group=0, max_objects_per_cycle=10)
    assert source.count("subgraph cluster_") == 5
    source = report.to_dot(max_objects_per_cycle=10)
    assert "… 90 more objects …" in source
    dot_to_svg(source)


def test_dot_to_an_unwritable_path_raises_a_clear_oserror(report, tmp_path):
    with pytest.raises(OSError, match="cannot write the DOT report"):
        report.to_dot(tmp_path / "missing" / "report.dot")
    written = tmp_path / "report.dot"
    assert report.to_dot(written) == written.read_text(encoding="utf-8")


# --- large reports ------------------------------------------------------------------------


def test_a_report_of_100k_identical_cycles_renders_as_one_group_in_every_format(validator):
    objects = []
    for _ in range(100_000):
        parent = Parent()
        objects += [parent, parent.child]
    report = refscope.find_cycles(objects, keep_objects=False)
    del objects
    assert len(report) == 100_000
    text = report.to_text(color=False)
    assert "×100000" in text and "… 99999 more cycles of this shape" in text
    assert len(text) < 5_000
    document = assert_valid(validator, report.to_json())
    (group,) = document["groups"]
    assert group["count"] == 100_000 and group["cycles_omitted"] == 99_990
    source = report.to_dot()
    assert source.count("subgraph cluster_") == 1
    dot_to_svg(source)


def test_a_report_of_100k_distinct_cycles_renders_with_the_largest_groups_listed(validator):
    objects = []
    for number in range(100_000):
        parent, child = Parent(), Child(None)
        setattr(child, f"owner_{number}", parent)  # a label of its own: a group of its own
        parent.child = child
        del child.parent
        objects += [parent, child]
    report = refscope.find_cycles(objects, keep_objects=False)
    del objects
    assert len(report.groups) == 100_000
    text = report.to_text(color=False)
    assert "100000 cycles in 100000 groups" in text
    assert text.count("\n  ×1 ") == 100
    assert "… 99900 more groups, none larger than these" in text
    document = assert_valid(validator, report.to_json())
    assert len(document["groups"]) == 1000
    assert document["summary"]["groups_omitted"] == 99_000
    assert report.to_dot().count("subgraph cluster_") == 100
