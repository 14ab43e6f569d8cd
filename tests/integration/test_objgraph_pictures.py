"""refscope.objgraph's pictures: .svg/.png/.html written without Graphviz, opened in a real
headless Chromium, shown by the Jupyter repr, with hostile labels in every format."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

import refscope.objgraph as objgraph

from ._chromium import MISSING_MESSAGE, Chromium, decode_png, find_chromium

SVG = "{http://www.w3.org/2000/svg}"
# objgraph cuts descriptions at 40 characters: the markup and controls come first.
HOSTILE = '\x00\x07</text></svg><script>alert("pwned")</script>&amp; "q" \\ \n]]><!--'


class Hostile:
    def __repr__(self):
        return HOSTILE


class Finalized:
    def __del__(self):
        pass


def _hostile_graph():
    h = Hostile()
    return {"ok": h, HOSTILE: [h], Hostile(): Finalized(), 3: "\x00"}


DRAW_WITHOUT_DOT = textwrap.dedent("""
    import os, sys
    import refscope.objgraph as objgraph

    class Hostile:
        def __repr__(self):
            return {hostile!r}

    class Finalized:
        def __del__(self):
            pass

    h = Hostile()
    graph = {{"ok": h, {hostile!r}: [h], Hostile(): Finalized(), 3: "\\x00"}}
    for name in sys.argv[1:]:
        objgraph.show_refs([graph], filename=name, max_depth=3)
    # no filename, no xdot and no dot: a PNG next to the temporary .dot file
    objgraph.show_backrefs([h], max_depth=2)
""")


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """The hostile graph drawn by a fresh interpreter whose PATH has neither dot nor xdot."""
    where = tmp_path_factory.mktemp("pictures")
    empty_bin = where / "bin"
    empty_bin.mkdir()
    env = dict(os.environ, PATH=str(empty_bin), TMPDIR=str(where))
    names = ["graph.dot", "graph.svg", "graph.png", "graph.html"]
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-X", "faulthandler", "-c",
         DRAW_WITHOUT_DOT.format(hostile=HOSTILE), *names],
        cwd=where, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return where, done.stdout


def test_every_format_is_written_without_graphviz(drawn):
    where, stdout = drawn
    lines = stdout.splitlines()
    assert re.fullmatch(r"Graph written to graph\.dot \(\d+ nodes\)", lines[0]), lines[0]
    for ext in ("svg", "png", "html"):
        assert re.search(rf"^Graph written to .*objgraph-\w+\.dot \(\d+ nodes\)\n"
                         rf"Image generated as graph\.{ext}$", stdout, re.M), stdout
    assert "Graph viewer (xdot) not found, generating a png instead" in stdout
    generated = re.findall(r"^Image generated as (.*objgraph-\w+\.png)$", stdout, re.M)
    assert generated and os.path.exists(generated[-1])
    assert "not found, not doing anything else" not in stdout


def test_png_is_a_real_picture(drawn):
    where, _ = drawn
    data = (where / "graph.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, channels, pixels = decode_png(data)
    assert width > 100 and height > 50
    # not blank: dark text and coloured fills among the white
    distinct = {pixels[i:i + channels] for i in range(0, len(pixels), channels * 7)}
    assert len(distinct) > 10


def _svg_nodes(root):
    return root.findall(f".//{SVG}g[@class='node']")


def test_svg_parses_and_draws_every_node_with_labels_escaped(drawn):
    where, stdout = drawn
    text = (where / "graph.svg").read_text(encoding="utf-8")
    root = ET.fromstring(text)  # well-formed despite the hostile labels
    assert root.tag == f"{SVG}svg"
    n_nodes = int(re.search(r"\((\d+) nodes\)", stdout).group(1))
    nodes = _svg_nodes(root)
    # every drawn object, plus the __del__ marker of the Finalized
    assert len(nodes) == n_nodes + 1
    assert root.find(f".//{SVG}script") is None
    all_text = "".join(root.itertext())
    assert '</text></svg><script>alert("pwned")' in all_text  # shown, as text
    assert "\\x00\\x07" in all_text  # control characters made visible
    assert "__del__" in all_text
    # the root is drawn with red text, as objgraph's fontcolor=red
    assert any(t.get("fill") == "#ff0000" for t in root.iter(f"{SVG}text"))
    # the __del__ marker is a red double circle
    circles = root.findall(f".//{SVG}circle")
    assert len(circles) == 2 and {c.get("stroke") for c in circles} == {"#ff0000"}


def test_dot_file_is_objgraphs_text_and_graphviz_accepts_it(drawn):
    where, _ = drawn
    dot = (where / "graph.dot").read_text(encoding="utf-8")
    assert dot.startswith("digraph ObjectGraph {\n  node[shape=box, style=filled, "
                          "fillcolor=white];\n")
    assert "_has_a_del[label=\"__del__\",shape=doublecircle" in dot
    assert '\\"' in dot and "\\\\0" in dot  # objgraph's quoting
    if shutil.which("dot"):
        done = subprocess.run(["dot", "-Tcanon"], input=dot, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr


CHROMIUM = find_chromium()


@pytest.mark.skipif(CHROMIUM is None, reason=MISSING_MESSAGE)
def test_html_picture_in_headless_chromium(drawn):
    where, stdout = drawn
    browser = Chromium(CHROMIUM)
    try:
        browser.open((where / "graph.html").as_uri())
        result = browser.evaluate(
            "({nodes: document.querySelectorAll('svg g.node').length,"
            " scripts: document.querySelectorAll('script').length,"
            " title: document.title,"
            " text: document.querySelector('svg').textContent,"
            " width: document.querySelector('svg').getBoundingClientRect().width})"
        )
        n_nodes = int(re.search(r"\((\d+) nodes\)", stdout).group(1))
        assert result["nodes"] == n_nodes + 1
        assert result["scripts"] == 0  # the hostile label did not become markup
        assert result["title"] == "graph.html"
        assert "alert(" in result["text"]
        assert result["width"] > 100
        assert browser.page_errors() == []
        shot = browser.screenshot()
        width, height, _, _ = decode_png(shot)
        assert width > 0 and height > 0
    finally:
        browser.close()


def test_jupyter_repr_when_interactive(monkeypatch):
    monkeypatch.setattr(objgraph, "IS_INTERACTIVE", True)
    graph = _hostile_graph()
    picture = objgraph.show_refs([graph], max_depth=2)
    assert isinstance(picture, objgraph.Picture)
    assert picture.source.startswith("digraph ObjectGraph {")
    svg = picture._repr_svg_()
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and _svg_nodes(root)
    html = picture._repr_html_()
    assert html.startswith('<div class="refscope-objgraph"><svg') and "<script>" not in html
    chain = objgraph.show_chain([graph, graph[HOSTILE]], backrefs=False)
    assert isinstance(chain, objgraph.Picture)
    # with a filename the file is written, as objgraph does in a notebook too
    monkeypatch.setattr(objgraph, "IS_INTERACTIVE", True)


def test_notebook_detection_follows_the_shell_class(monkeypatch):
    import builtins

    class ZMQInteractiveShell:  # the class name IPython kernels use
        pass

    class TerminalInteractiveShell:
        pass

    monkeypatch.setattr(builtins, "get_ipython", lambda: ZMQInteractiveShell(), raising=False)
    assert objgraph._running_in_notebook()
    monkeypatch.setattr(builtins, "get_ipython", lambda: TerminalInteractiveShell())
    assert not objgraph._running_in_notebook()
    monkeypatch.delattr(builtins, "get_ipython")
    assert not objgraph._running_in_notebook()


def test_picture_save_writes_every_format(tmp_path, monkeypatch):
    monkeypatch.setattr(objgraph, "IS_INTERACTIVE", True)
    picture = objgraph.show_backrefs([_hostile_graph()], max_depth=1)
    for ext in ("dot", "svg", "png", "html"):
        picture.save(str(tmp_path / f"p.{ext}"))
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    ET.fromstring((tmp_path / "p.svg").read_text(encoding="utf-8"))
    assert (tmp_path / "p.dot").read_text(encoding="utf-8") == picture.source


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_formats_only_graphviz_makes_go_through_dot(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    objgraph.show_refs([[1, 2]], filename="g.pdf")
    out = capsys.readouterr().out
    assert out.endswith("Image generated as g.pdf\n")
    assert (tmp_path / "g.pdf").read_bytes()[:5] == b"%PDF-"


def test_formats_only_graphviz_makes_without_dot(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path))
    objgraph.show_refs([[1, 2]], filename="g.pdf")
    out = capsys.readouterr().out
    assert out.endswith("Image renderer (dot) not found, not doing anything else\n")
    assert not (tmp_path / "g.pdf").exists()
