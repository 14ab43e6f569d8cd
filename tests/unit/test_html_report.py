"""report.to_html(path): the file itself (the browser tests are in tests/integration)."""

from __future__ import annotations

import json
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
