"""The HTML page of ``refscope report FILE --format html``: one self-contained file.

The same views as ``refscope serve``, for a static page that opens from disk and needs
no server: the types that retain the most, the largest retainers, the top of the
dominator tree (``<details>`` elements, expandable without script, largest first and
capped by :meth:`refscope.Snapshot.dominator_tree`), the reference cycles, and a
why-alive lookup by id. A static page cannot query the snapshot, so the chains are
computed here for the objects of the tree and the largest retainers that retain the
most (:data:`WHY_CHAINS` of them), and shipped as JSON data (a ``<script
type="application/json">`` element, which never runs); one small inline script looks
them up.

Every name and label is user data: escaped as HTML in the markup, as JSON (``<``, ``>``
and ``&`` written as ``\\u`` escapes, so no ``</script>`` can appear) in the data, and
shown by the script only as text. The page states its own Content-Security-Policy in a
``<meta>`` element: its stylesheet and its script by their SHA-256 hashes, nothing else
(no ``'unsafe-inline'``, no network).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import time
from collections.abc import Iterator
from typing import Any

import refscope

TREE_NODES = 300
# Chains shipped in the page, for the objects that retain the most: each costs one search
# backwards from the object until WHY_MAX_ROOTS roots are met (about 2 ms at 10M objects;
# the search reuses its arrays), so every object of the tree and of the retainer table
# gets one unless `--top` asks for more than this many rows.
WHY_CHAINS = 1000
WHY_MAX_ROOTS = 5
SIGNATURE_CHARS = 400

STYLE = """
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222;max-width:90em}
table{border-collapse:collapse}td,th{padding:2px 10px;text-align:right}
td:first-child,th:first-child{text-align:left}tr:nth-child(even){background:#f4f4f4}
ul.tree{list-style:none;padding-left:1.2em;margin:0}summary{cursor:pointer}
li.leaf{padding-left:1.1em}li.more{padding-left:1.1em;color:#666;font-style:italic}
button.why{font-size:80%;margin-left:.6em}
pre{background:#f4f4f4;padding:.6em;white-space:pre-wrap}.note{color:#555}
code{font-size:95%}
"""

SCRIPT = """
const DATA = JSON.parse(document.getElementById("why-data").textContent);
const fmt = n => n.toLocaleString("en-US");
const input = document.getElementById("why-input");
const out = document.getElementById("why-result");
let answers = 0;
function show(text) {
  let key = null;
  try { key = BigInt(text.trim()).toString(); } catch (error) { key = null; }
  const entry = key === null ? undefined : DATA.why[key];
  if (key === null) {
    out.textContent = "not an object id (decimal, or hexadecimal starting with 0x): " + text;
  } else if (entry === undefined) {
    out.textContent = "0x" + BigInt(key).toString(16) + " is not one of the " +
      fmt(DATA.count) + " objects whose chains this page holds (those that retain the " +
      "most); 'refscope serve' answers for any object: " + DATA.serve;
  } else {
    out.textContent = entry.summary + "\\nretained size: " + fmt(entry.retained_size) + " B";
  }
  answers += 1;
  out.dataset.answers = String(answers);
}
document.getElementById("why-form").addEventListener("submit", event => {
  event.preventDefault();
  show(input.value);
});
document.querySelectorAll("button.why").forEach(button => {
  button.addEventListener("click", event => {
    event.preventDefault();  // inside a <summary>: look up, do not fold
    input.value = "0x" + BigInt(button.dataset.id).toString(16);
    show(button.dataset.id);
  });
});
document.body.dataset.ready = "1";
"""


def _hash(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


POLICY = (
    f"default-src 'none'; style-src 'sha256-{_hash(STYLE)}'; "
    f"script-src 'sha256-{_hash(SCRIPT)}'; img-src data:; base-uri 'none'; form-action 'none'"
)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _json_for_script(data: Any) -> str:
    """JSON that cannot end its ``<script>`` element or open markup inside it."""
    return (
        json.dumps(data, separators=(",", ":"))
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )


def _walk(nodes: list[Any]) -> Iterator[Any]:
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


def _why_button(address: int, why: dict[str, Any]) -> str:
    if str(address) not in why:
        return ""
    return f'<button class="why" type="button" data-id="{address}">why alive?</button>'


def _label(node: Any, root_names: dict[int, str]) -> str:
    root = root_names.get(node.id)
    named = f" ({_e(root)})" if root else ""
    return (
        f'<span class="label"><code>{_e(node.type)}</code>{named} {node.id:#x} — retains '
        f"{node.retained_size:,} B (itself {node.size:,} B)</span>"
    )


def _tree(nodes: list[Any], root_names: dict[int, str], why: dict[str, Any]) -> str:
    """Nested lists, built without recursion (the tree is as deep as its limits allow)."""
    parts: list[str] = ['<ul class="tree" id="tree">']
    # (node, closing): a node opens its element; the closing marker ends it.
    stack: list[tuple[Any, bool]] = [(node, False) for node in reversed(nodes)]
    while stack:
        node, closing = stack.pop()
        if closing:
            if node.truncated:
                parts.append(
                    '<li class="more">… more that only it keeps alive, not shown here '
                    "(browse it with refscope serve)</li>"
                )
            parts.append("</ul></details></li>")
            continue
        if not node.children:
            more = " <em>(keeps more alive: see refscope serve)</em>" if node.truncated else ""
            parts.append(
                f'<li class="node leaf" data-id="{node.id}">{_label(node, root_names)}{more} '
                f"{_why_button(node.id, why)}</li>"
            )
            continue
        parts.append(
            f'<li class="node" data-id="{node.id}"><details><summary>{_label(node, root_names)} '
            f'{_why_button(node.id, why)}</summary><ul class="tree">'
        )
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(node.children))
    parts.append("</ul>")
    return "".join(parts)


def _shorten(text: str) -> str:
    if len(text) <= SIGNATURE_CHARS:
        return text
    return text[:SIGNATURE_CHARS] + f" … ({len(text) - SIGNATURE_CHARS:,} more characters)"


def _table(headers: tuple[str, ...], rows: list[list[str]], row_class: str) -> str:
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        f'<tr class="{row_class}">' + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(snap: refscope.Snapshot, file: str, top: int) -> str:
    """The page for ``snap`` (read from ``file``), ``top`` rows per table."""
    tree = snap.dominator_tree(max_nodes=TREE_NODES)
    retainers = snap.largest_retainers(top)
    why: dict[str, dict[str, Any]] = {}
    candidates = [(r.retained_size, r.id) for r in retainers]
    candidates += [(node.retained_size, node.id) for node in _walk(tree)]
    candidates.sort(key=lambda c: -c[0])  # stable: retainers first among equals
    for _, address in candidates:
        if len(why) >= WHY_CHAINS:
            break
        if str(address) in why:
            continue
        chain = snap.why_alive(address, max_roots=WHY_MAX_ROOTS)
        why[str(address)] = {
            "summary": str(chain) if chain is not None else "no root reaches this object",
            "retained_size": snap.retained_size(address),
        }
    roots: dict[str, int] = {}
    # Module globals and thread frames name their node in the tree ("module __main__").
    root_names: dict[int, str] = {}
    for root in snap.roots():
        roots[root.kind] = roots.get(root.kind, 0) + 1
        if root.kind in ("module", "thread"):
            root_names.setdefault(root.id, root.label)
    taken = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(snap.taken_at))
    summary = (
        f"{snap.object_count:,} objects, {snap.reference_count:,} references, "
        f"{snap.total_size:,} bytes (Python {_e(snap.python_version.split()[0])}, pid "
        f"{snap.pid}, taken {taken} UTC); roots: "
        + _e(", ".join(f"{n:,} {kind}" for kind, n in sorted(roots.items())))
    )
    types = _table(
        ("type", "count", "bytes", "retained"),
        [[f"<code>{_e(t.name)}</code>", f"{t.count:,}", f"{t.size:,}", f"{t.retained_size:,}"]
         for t in snap.top_types(top)],
        "type-row",
    )
    largest = _table(
        ("type", "id", "bytes", "retained", ""),
        [[f"<code>{_e(r.type)}</code>", f"{r.id:#x}", f"{r.size:,}", f"{r.retained_size:,}",
          _why_button(r.id, why)] for r in retainers],
        "retainer-row",
    )
    cycles = _table(
        ("cycle (member types)", "cycles", "objects", "bytes"),
        [[f"<code>{_e(_shorten(g.signature))}</code>", f"{g.components:,}", f"{g.objects:,}",
          f"{g.size:,}"] for g in snap.cycle_groups()[:top]],
        "cycle-row",
    )
    data = {"why": why, "count": len(why), "serve": f"refscope serve {file}"}
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">\n'
        f"<title>refscope heap snapshot: {_e(file)}</title>\n"
        '<link rel="icon" href="data:,">\n'
        f"<style>{STYLE}</style></head><body>\n"
        f"<h1>Heap snapshot <code>{_e(file)}</code></h1>\n"
        f'<p id="summary">{summary}</p>\n'
        "<h2>Why is it alive?</h2>\n"
        '<form id="why-form"><input id="why-input" size="40" '
        'placeholder="object id (0x… or decimal)"> <button type="submit">Look up</button>'
        '</form><pre id="why-result"></pre>\n'
        f'<p class="note">This page holds the chains of the {len(why):,} objects below that '
        "retain the most (“why alive?” next to each); "
        f"<code>{_e(data['serve'])}</code> answers for every object.</p>\n"
        f"<h2>Types that retain the most</h2>\n{types}\n"
        f"<h2>Largest retainers</h2>\n{largest}\n"
        "<h2>Dominator tree</h2>\n<p class=\"note\">Each object keeps alive, by itself, the "
        "objects under it; largest first. Click a row to expand it.</p>\n"
        f"{_tree(tree, root_names, why)}\n"
        f"<h2>Reference cycles</h2>\n{cycles}\n"
        f'<script type="application/json" id="why-data">{_json_for_script(data)}</script>\n'
        f"<script>{SCRIPT}</script>\n</body></html>\n"
    )
