"""report.to_html(path): the file itself (the browser tests are in tests/integration).

The golden page is tests/golden/report.html. After an intended change of the page, rewrite
it with ``REFSCOPE_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_html_report.py`` and
review the diff.
"""

from __future__ import annotations

import json
import os
import pathlib
import re

import pytest

import refscope

DATA_ISLAND = re.compile(
    r'<script type="application/json" id="refscope-data">(.*?)</script>', re.DOTALL
)


class Pair:
    def __init__(self, other: Pair | None = None) -> None:
        self.other = other if other is not None else Pair(self)


class Slotted:
    __slots__ = ("me",)


def hostile_report() -> refscope.CycleReport:
    hostile_type = type('<script>"&', (), {})
    obj = hostile_type()
    obj.table = {"</script><!--<b>": obj}
    return refscope.find_cycles([obj, obj.table])


def test_the_report_is_one_self_contained_file_at_the_returned_path(tmp_path):
    pair = Pair()
    report = refscope.find_cycles([pair, pair.other])
    path = tmp_path / "report.html"
    assert report.to_html(path) == str(path)
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count('<section class="group"') == 1
    assert "<svg" in page
    for remote in ("src=", 'href="http', "url(", "@import"):
        assert remote not in page


def test_the_title_is_escaped(tmp_path):
    path = tmp_path / "r.html"
    hostile_report().to_html(path, title="<i>leaks</i> & more")
    page = path.read_text(encoding="utf-8")
    assert "<title>&lt;i&gt;leaks&lt;/i&gt; &amp; more</title>" in page


def test_embedded_data_cannot_end_its_script_element_and_round_trips(tmp_path):
    path = tmp_path / "r.html"
    hostile_report().to_html(path)
    page = path.read_text(encoding="utf-8")
    (island,) = DATA_ISLAND.findall(page)
    assert "</" not in island and "<!--" not in island
    data = json.loads(island)
    labels = {info["label"] for info in data["objects"].values()}
    types = {info["type"] for info in data["objects"].values()}
    assert "['</script><!--<b>']" in labels
    assert any(t.endswith('<script>"&') for t in types)
    assert page.count("<script") == 2


# --- the golden page ----------------------------------------------------------------------
# Classes claim the module "app" so that type names (and so signatures and keys) do not
# depend on how pytest imported this file.


class Parent:
    __module__ = "app"

    def __init__(self) -> None:
        self.child = Child(self)


class Child:
    __module__ = "app"

    def __init__(self, parent: Parent) -> None:
        self.parent = parent


class Connection:
    __module__ = "app"

    def __init__(self) -> None:
        self.cursor = Cursor(self)

    def __del__(self) -> None:
        pass


class Cursor:
    __module__ = "app"

    def __init__(self, connection: Connection) -> None:
        self.connection = connection


GOLDEN = pathlib.Path(__file__).resolve().parent.parent / "golden" / "report.html"
STATIC_PARTS = (
    ("<style>", "</style>", "/* html_page.css */"),
    ("<script>", "</script>", "/* html_page.js */"),
)


def normalised_page(page: str) -> str:
    """The page without what varies between runs and CPython versions (the time, the
    Python version and pid in the subtitle, addresses, sizes) and with its static
    stylesheet and script as markers (the Rust golden tests and the browser test them);
    one element per line so that a change reads as a short diff."""
    page = re.sub(
        r"Generated \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by refscope on Python [^,]+, process \d+",
        "Generated <time> by refscope on Python <version>, process <pid>",
        page,
    )
    page = re.sub(r"0x[0-9a-f]+", "0x0", page)
    page = re.sub(r"\b\d+(?:\.\d)? (?:B|KiB|MiB|GiB|TiB)\b", "<size>", page)
    page = re.sub(r'"size":\d+', '"size":0', page)
    page = re.sub(r"'sha256-[A-Za-z0-9+/=]+'", "'sha256-<hash>'", page)
    for open_tag, close_tag, marker in STATIC_PARTS:
        start = page.index(open_tag) + len(open_tag)
        page = page[:start] + marker + page[page.index(close_tag, start):]
    for tag in ("</g>", "</tr>", "</section>", "</text>", "</svg>", "</div>"):
        page = page.replace(tag, tag + "\n")
    return page


def test_the_page_matches_the_golden_file(tmp_path):
    objects: list[object] = []
    for _ in range(3):
        parent = Parent()
        objects += [parent, parent.child]
    for _ in range(2):
        connection = Connection()
        objects += [connection, connection.cursor]
    tricky: dict[str, object] = {}
    tricky['say "hi"\\\n<b>&</b>'] = tricky
    objects.append(tricky)
    report = refscope.find_cycles(objects, keep_objects=False)
    for obj in objects:  # break the cycles: the test leaves no garbage behind
        if isinstance(obj, dict):
            obj.clear()
        else:
            obj.__dict__.clear()
    del objects
    path = tmp_path / "report.html"
    report.to_html(path, title="refscope: <golden> & report")
    page = normalised_page(path.read_text(encoding="utf-8"))
    if os.environ.get("REFSCOPE_UPDATE_GOLDEN"):
        GOLDEN.write_text(page, encoding="utf-8")
    assert page == GOLDEN.read_text(encoding="utf-8"), (
        "the HTML page changed; see this module's docstring to update the golden file"
    )


def test_the_page_carries_a_policy_that_allows_only_its_own_style_and_script(tmp_path):
    import base64
    import hashlib

    path = tmp_path / "r.html"
    hostile_report().to_html(path)
    page = path.read_text(encoding="utf-8")
    (policy,) = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    assert "unsafe" not in policy
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    directive_of = {"<style>": "style-src", "<script>": "script-src"}
    for open_tag, close_tag, _ in STATIC_PARTS:
        directive = directive_of[open_tag]
        start = page.index(open_tag) + len(open_tag)
        text = page[start:page.index(close_tag, start)]
        digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
        assert directives[directive] == f"'sha256-{digest}'"
    # The policy comes before anything from the report (the title is user data).
    assert page.index("Content-Security-Policy") < page.index("<title>")


def test_a_missing_directory_raises_oserror_naming_the_path(tmp_path):
    path = tmp_path / "no" / "such" / "dir" / "r.html"
    with pytest.raises(OSError) as raised:
        hostile_report().to_html(path)
    assert raised.value.filename == str(path)
    assert str(path) in str(raised.value)
    assert "cannot write the HTML report" in str(raised.value)


def test_a_directory_as_path_raises_oserror_naming_it(tmp_path):
    with pytest.raises(OSError) as raised:
        hostile_report().to_html(tmp_path)
    assert raised.value.filename == str(tmp_path)


def test_a_path_with_a_nul_byte_raises_oserror_not_valueerror():
    with pytest.raises(OSError) as raised:
        hostile_report().to_html("bad\0name.html")
    assert raised.value.filename == "bad\0name.html"
    assert "invalid path" in str(raised.value)


def test_a_path_of_the_wrong_type_raises_typeerror():
    with pytest.raises(TypeError, match="str or os.PathLike"):
        hostile_report().to_html(42)


def test_a_report_of_100k_cycles_renders_to_html(tmp_path):
    pairs = [Pair() for _ in range(100_000)]
    objects = [obj for pair in pairs for obj in (pair, pair.other)]
    report = refscope.find_cycles(objects, keep_objects=False)
    del objects
    assert len(report) == 100_000
    path = tmp_path / "big.html"
    report.to_html(path)
    page = path.read_text(encoding="utf-8")
    assert page.count('<section class="group"') == 1
    assert "×100,000" in page
    for pair in pairs:  # break the cycles so the test leaves no garbage behind
        pair.other.other = None


def test_allocation_sites_traced_by_tracemalloc_are_in_the_object_details(tmp_path):
    import tracemalloc

    tracemalloc.start(5)
    try:
        loop = Slotted()  # allocated here, under tracing (lists come from a free list)
        loop.me = loop
        report = refscope.find_cycles([loop])
    finally:
        tracemalloc.stop()
    path = tmp_path / "r.html"
    report.to_html(path)
    (island,) = DATA_ISLAND.findall(path.read_text(encoding="utf-8"))
    (details,) = json.loads(island)["objects"].values()
    files = {filename for filename, _line, _function in details["allocated_at"]}
    assert __file__ in files
    loop.me = None


def test_to_html_without_a_path_returns_the_page_that_write_html_writes(tmp_path):
    report = hostile_report()
    page = report.to_html(title="t")
    assert page.startswith("<!DOCTYPE html>")
    path = report.write_html(tmp_path / "r.html", title="t")
    written = pathlib.Path(path).read_text(encoding="utf-8")
    # Only the generation time may differ between the two renderings.
    strip = re.compile(r"Generated [^<]* by refscope")
    assert strip.sub("", written) == strip.sub("", page)
