"""``refscope serve FILE``: browse a heap snapshot in a local web page.

Exit codes: 0 when stopped (Ctrl-C), 1 FILE is not a readable snapshot, 2 usage errors.
"""

from __future__ import annotations

import argparse
import http.server
import ipaddress
import json
import secrets
import sys
import threading
import urllib.parse
from typing import Any

import refscope

from .common import UsageError, add_progress_argument

HELP = "browse a heap snapshot in a local web page (top types, dominator tree, why alive)"
DESCRIPTION = (
    "Read FILE (written by 'refscope snapshot' or Snapshot.save) and serve a page on "
    "127.0.0.1 with the types that retain the most, the dominator tree (expand an object to "
    "see what only it keeps alive) and a why-alive search by id or type name. Serving on "
    "another address needs a token, generated unless --token gives one, which every "
    "request must carry (?token=...)."
)
EPILOG = "Exit codes: 0 when stopped with Ctrl-C, 1 FILE is not a readable snapshot, 2 usage error."

MAX_ROWS = 200
# The page's one script and one stylesheet are inline, allowed by a nonce drawn afresh for
# each response: a script or style that labels (user data) might inject into the page has
# no nonce and does not run. The script may fetch this server's JSON and nothing else.
PAGE_POLICY = (
    "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
    "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
# JSON and error answers are never rendered as a page.
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="a snapshot file")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8765, help="port (default: 8765; 0: any free)")
    parser.add_argument("--token", help="require this token (?token=...) on every request")
    add_progress_argument(parser)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parse_id(text: str) -> int:
    text = text.strip()
    return int(text, 16) if text.lower().startswith("0x") else int(text)


class _Api:
    """The JSON answers, from the snapshot (queries are thread-safe)."""

    def __init__(self, snap: refscope.Snapshot) -> None:
        self.snap = snap
        self.lock = threading.Lock()

    def summary(self, _query: dict[str, str]) -> Any:
        snap = self.snap
        roots: dict[str, int] = {}
        for root in snap.roots():
            roots[root.kind] = roots.get(root.kind, 0) + 1
        return {
            "objects": snap.object_count,
            "references": snap.reference_count,
            "bytes": snap.total_size,
            "python": snap.python_version.split()[0],
            "pid": snap.pid,
            "roots": roots,
            "top_types": [t._asdict() for t in snap.top_types(50)],
        }

    def dominated(self, query: dict[str, str]) -> Any:
        node = _parse_id(query["id"]) if query.get("id") else None
        return [r._asdict() for r in self.snap.dominated(node, MAX_ROWS)]

    def why(self, query: dict[str, str]) -> Any:
        text = query.get("q", "").strip()
        try:
            ids = [_parse_id(text)]
        except ValueError:
            ids = self.snap.by_type(text)[:1]
            if not ids:
                return {"error": f"no object with id or type {text!r}"}
        try:
            chain = self.snap.why_alive(ids[0])
        except KeyError as error:
            return {"error": str(error.args[0])}
        if chain is None:
            return {"error": "no root reaches this object"}
        return {
            "id": chain.id,
            "type": chain.type,
            "text": chain.text,
            "summary": str(chain),
            "retained_size": self.snap.retained_size(chain.id),
        }


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>refscope heap snapshot</title>
<link rel="icon" href="data:,">
<style nonce="{nonce}">
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse}td,th{padding:2px 10px;text-align:right}
td:first-child,th:first-child{text-align:left}tr:nth-child(even){background:#f4f4f4}
ul.tree{list-style:none;padding-left:1.2em}button.expand{width:1.8em}
pre{background:#f4f4f4;padding:.6em;white-space:pre-wrap}
</style></head><body>
<h1>Heap snapshot</h1><p id="summary">loading…</p>
<h2>Why is it alive?</h2>
<form id="why-form">
<input id="why-input" size="40" placeholder="object id (0x… or decimal) or type name">
<button type="submit">Search</button></form><pre id="why-result"></pre>
<h2>Types that retain the most</h2>
<table id="types"><thead><tr><th>type</th><th>count</th><th>bytes</th><th>retained</th></tr>
</thead><tbody></tbody></table>
<h2>Dominator tree</h2><p>Each object keeps alive, by itself, the objects under it.</p>
<ul class="tree" id="tree"></ul>
<script nonce="{nonce}">
const TOKEN = new URLSearchParams(location.search).get("token");
function api(path, params) {
  const q = new URLSearchParams(params || {});
  if (TOKEN) q.set("token", TOKEN);
  return fetch(path + "?" + q.toString()).then(r => r.json());
}
function cell(row, text) {
  const td = document.createElement("td"); td.textContent = text; row.appendChild(td);
}
const fmt = n => n.toLocaleString("en-US");
function item(r) {
  const li = document.createElement("li");
  li.className = "node"; li.dataset.id = r.id;
  const b = document.createElement("button"); b.className = "expand"; b.textContent = "▸";
  const label = document.createElement("span"); label.className = "label";
  label.textContent =
    r.type + " 0x" + r.id.toString(16) + " — retains " + fmt(r.retained_size) + " B";
  const kids = document.createElement("ul"); kids.className = "tree";
  b.addEventListener("click", () => {
    if (b.textContent === "▾") { kids.replaceChildren(); b.textContent = "▸"; return; }
    b.textContent = "▾";
    api("/api/dominated", {id: String(r.id)})
      .then(rows => rows.forEach(c => kids.appendChild(item(c))));
  });
  li.append(b, " ", label, kids);
  return li;
}
api("/api/summary").then(s => {
  const roots = Object.entries(s.roots).map(([k, n]) => fmt(n) + " " + k).join(", ");
  document.getElementById("summary").textContent =
    fmt(s.objects) + " objects, " + fmt(s.references) + " references, " + fmt(s.bytes) +
    " bytes (Python " + s.python + ", pid " + s.pid + "); roots: " + roots;
  const body = document.querySelector("#types tbody");
  s.top_types.forEach(t => { const row = document.createElement("tr"); row.className = "type-row";
    cell(row, t.name); cell(row, fmt(t.count)); cell(row, fmt(t.size));
    cell(row, fmt(t.retained_size));
    body.appendChild(row); });
  document.body.dataset.ready = "summary";
});
api("/api/dominated").then(rows => {
  const tree = document.getElementById("tree");
  rows.forEach(r => tree.appendChild(item(r)));
  document.getElementById("tree").dataset.ready = "1";
});
document.getElementById("why-form").addEventListener("submit", e => {
  e.preventDefault();
  const out = document.getElementById("why-result");
  api("/api/why", {q: document.getElementById("why-input").value}).then(r => {
    out.textContent = r.error ? r.error
      : r.summary + "\\nretained size: " + fmt(r.retained_size) + " B";
    out.dataset.done = "1";
  });
});
</script></body></html>
"""


def _handler(api: _Api, token: str | None) -> type[http.server.BaseHTTPRequestHandler]:
    routes = {"/api/summary": api.summary, "/api/dominated": api.dominated, "/api/why": api.why}

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "refscope"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            pass

        def _send(
            self, status: int, body: bytes, content_type: str, policy: str = DATA_POLICY
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Security-Policy", policy)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            if token is not None and not secrets.compare_digest(query.get("token", ""), token):
                self._send(403, b"a token is required (?token=...)\n", "text/plain; charset=utf-8")
                return
            if url.path == "/":
                nonce = secrets.token_urlsafe(18)
                page = PAGE.replace("{nonce}", nonce)
                self._send(
                    200, page.encode(), "text/html; charset=utf-8", PAGE_POLICY.format(nonce=nonce)
                )
                return
            route = routes.get(url.path)
            if route is None:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")
                return
            try:
                with api.lock:
                    answer = route(query)
            except (ValueError, KeyError) as error:
                answer = {"error": str(error)}
            self._send(200, json.dumps(answer).encode(), "application/json")

    return Handler


def main(args: argparse.Namespace) -> int:
    if not 0 <= args.port < 65536:
        raise UsageError("--port must be between 0 and 65535")
    token = args.token
    if token is None and not _is_loopback(args.host):
        token = secrets.token_urlsafe(24)
    try:
        snap = refscope.load(args.file, progress=args.progress)
    except (OSError, ValueError) as error:
        print(f"refscope serve: {error}", file=sys.stderr)
        return 1
    snap.compute_dominators(progress=args.progress)  # before the first page asks for them
    try:
        handler = _handler(_Api(snap), token)
        server = http.server.ThreadingHTTPServer((args.host, args.port), handler)
    except OSError as error:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {error}") from None
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in str(host) else host
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    print(f"refscope: serving {args.file} at {url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
