"""report.to_svg(): rings drawn by refscope itself, parsed back as XML.

The golden picture is tests/golden/report.svg. After an intended change of the drawing,
regenerate it with ``REFSCOPE_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_svg.py``
and look at it (and at its diff) before committing.
"""

from __future__ import annotations

import os
import pathlib
import re
import sys
import xml.etree.ElementTree as ET

import pytest

import refscope

SVG = "{http://www.w3.org/2000/svg}"


class Node:
    pass


class Closer:
    def __del__(self) -> None:
        pass


def ring(length: int, cls: type = Node) -> list[object]:
    nodes = [cls() for _ in range(length)]
    for node, following in zip(nodes, nodes[1:] + nodes[:1], strict=True):
        node.next = following
    return nodes


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.encode("utf-8"))


def nodes_of(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if "node" in g.get("class", "").split()]


def shape_of(node: ET.Element) -> ET.Element:
    return next(e for e in node if e.get("class") == "shape")


def all_text(root: ET.Element) -> str:
    return "\n".join("".join(e.itertext()) for e in root.iter())


def test_a_two_object_cycle_is_a_well_formed_ring_with_both_references_named():
    a, b = Node(), Node()
    a.partner, b.partner = b, a
    root = parse(refscope.find_cycles([a, b]).to_svg())
    assert root.tag == f"{SVG}svg"
    assert len(nodes_of(root)) == 2
    labels = [t.text for t in root.iter(f"{SVG}text") if t.text == ".partner"]
    assert len(labels) == 2
    assert "Group 1: ×1 · 2 objects" in all_text(root)


def test_a_fifty_object_ring_is_drawn_whole_numbered_and_well_formed():
    nodes = ring(50)
    root = parse(refscope.find_cycles(nodes).to_svg())
    drawn = nodes_of(root)
    assert len(drawn) == 50
    assert sorted(int(g.get("data-position")) for g in drawn) == list(range(50))
    assert "more …" not in all_text(root)
    numbers = {t.text for t in root.iter(f"{SVG}text") if t.get("class") == "position"}
    assert numbers == {str(i) for i in range(1, 51)}


def test_a_longer_ring_is_capped_with_an_elision_marker():
    nodes = ring(200)
    root = parse(refscope.find_cycles(nodes).to_svg(max_objects=50))
    assert len(nodes_of(root)) == 49
    assert "… 151 more …" in all_text(root)
    uncapped = parse(refscope.find_cycles(nodes).to_svg(max_objects=0))
    assert len(nodes_of(uncapped)) == 200


def test_objects_with_a_finaliser_are_filled_red_and_others_are_not():
    closer, plain = Closer(), Node()
    closer.other, plain.other = plain, closer
    root = parse(refscope.find_cycles([closer, plain]).to_svg())
    fills = {g.get("data-finalizer"): shape_of(g).get("fill") for g in nodes_of(root)}
    assert fills["true"] == "#dc2626"
    assert fills["false"] != "#dc2626"


def test_frames_are_drawn_as_hexagons_in_their_own_colour():
    def keep_own_frame():
        frame = sys._getframe()
        return frame

    frame = keep_own_frame()
    root = parse(refscope.find_cycles([frame]).to_svg())
    (drawn,) = nodes_of(root)
    assert "kind-frame" in drawn.get("class")
    assert shape_of(drawn).tag == f"{SVG}path"
    assert shape_of(drawn).get("fill") == "#dbeafe"
    del frame


def test_the_reference_the_hint_says_to_break_is_drawn_in_orange():
    nodes = ring(3)
    report = refscope.find_cycles(nodes)
    (group,) = report.groups
    root = parse(report.to_svg())
    breaks = [g for g in root.iter(f"{SVG}g") if g.get("class") == "edge break"]
    assert [int(g.get("data-edge")) for g in breaks] == [group.hint.edge_index]
    assert {p.get("stroke") for p in breaks[0] if p.get("stroke")} == {"#ea580c"}


def test_hostile_type_names_and_dict_keys_are_escaped_not_interpreted():
    hostile_type = type('<script>"&', (), {})
    obj = hostile_type()
    obj.table = {"</script><b>": obj, "quote'": 1}
    svg = refscope.find_cycles([obj, obj.table]).to_svg()
    root = parse(svg)  # would raise on broken markup
    assert not [e for e in root.iter() if e.tag in ("script", "b", f"{SVG}script", f"{SVG}b")]
    text = all_text(root)
    assert '<script>"&' in text
    assert "</script><b>" in text
    assert "<script" not in svg and "<b>" not in svg


def test_characters_that_xml_forbids_are_dropped_from_names():
    bad = type("bad\x01\x1bname", (), {})
    obj = bad()
    obj.me = obj
    root = parse(refscope.find_cycles([obj]).to_svg())
    assert "badname" in all_text(root)


def test_an_empty_report_is_still_a_valid_picture():
    root = parse(refscope.find_cycles([]).to_svg())
    assert "No reference cycles found." in all_text(root)


@pytest.mark.parametrize("argument", [{"max_objects": -1}, {"max_groups": -5}])
def test_negative_limits_are_rejected_with_the_argument_named(argument):
    (name,) = argument
    with pytest.raises(ValueError, match=name):
        refscope.find_cycles([]).to_svg(**argument)


def test_with_a_path_the_picture_is_also_written_there(tmp_path):
    a, b = Node(), Node()
    a.partner, b.partner = b, a
    report = refscope.find_cycles([a, b])
    path = tmp_path / "cycles.svg"
    text = report.to_svg(path)
    assert path.read_text(encoding="utf-8") == text
    with pytest.raises(OSError) as raised:
        report.to_svg(tmp_path / "missing" / "cycles.svg")
    assert "cannot write the SVG picture" in str(raised.value)
    assert raised.value.filename == str(tmp_path / "missing" / "cycles.svg")


class Owner:
    __module__ = "app"  # type names (and so the drawing) independent of how pytest imports

    def __init__(self) -> None:
        self.resource = Resource(self)


class Resource:
    __module__ = "app"

    def __init__(self, owner: Owner) -> None:
        self.owner = owner

    def __del__(self) -> None:
        pass


class Link:
    __module__ = "app"


def test_the_drawing_matches_the_golden_picture():
    objects: list[object] = []
    for _ in range(2):
        owner = Owner()
        objects += [owner, owner.resource]
    links = [Link() for _ in range(9)]
    for link, following in zip(links, links[1:] + links[:1], strict=True):
        link.next = following
    objects += links
    tricky: dict[str, object] = {}
    tricky['say "hi"\\\n<b>&</b>'] = tricky
    objects.append(tricky)
    svg = refscope.find_cycles(objects, keep_objects=False).to_svg(max_objects=8)
    # Sizes vary between CPython versions and addresses between runs.
    svg = re.sub(r"\b\d+(?:\.\d)? (?:B|KiB|MiB)\b", "N B", svg)
    svg = re.sub(r"at 0x[0-9a-f]+", "at 0x0", svg)
    golden = pathlib.Path(__file__).resolve().parent.parent / "golden" / "report.svg"
    if os.environ.get("REFSCOPE_UPDATE_GOLDEN"):
        golden.write_text(svg, encoding="utf-8")
    assert svg == golden.read_text(encoding="utf-8"), (
        "the SVG drawing changed; see this module's docstring to update the golden file"
    )
    for link in links:  # break the cycles: the test leaves no garbage behind
        link.next = None
    tricky.clear()
    for obj in objects:
        if isinstance(obj, Owner):
            obj.resource = None
