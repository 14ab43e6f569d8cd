"""The framework-neutral part of refscope's HTTP endpoints: routing, access, formats.

Tornado, ASGI and WSGI adapters turn a request into :class:`Request`, call
:meth:`Endpoints.handle` (in a worker thread where the framework has an event loop: a
collection may take a while) and send the :class:`Response` back.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .. import Cycle, CycleGroup, CycleReport, Monitor, snapshot
from .security import AccessPolicy

__all__ = ["Endpoints", "Request", "Response", "ROUTES"]

ROUTES = ("collect", "cycles", "metrics", "snapshot", "top")
# snapshot/?format=: what the download holds, its media type and file extension.
_SNAPSHOT_FORMATS = {
    "refscope": ("application/octet-stream", "rscp"),
    "heapsnapshot": ("application/json", "heapsnapshot"),
}
_TOP_DEFAULT_ROWS = 50
_TOP_MAX_ROWS = 1000
_FORMATS = ("text", "json", "html")
_MAX_OBJECTS_PER_CYCLE = 20
_SECURITY_HEADERS = (
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
)
# The small pages made here (cycles/ in HTML) have one inline stylesheet and no script:
# the policy allows that stylesheet by its SHA-256 hash, and nothing else.
_SMALL_PAGE_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:80em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;"
    "text-align:left;vertical-align:top}pre{background:#f6f6f6;padding:1em;overflow:auto}"
    "code{font-size:90%}"
)
_SMALL_PAGE_STYLE_HASH = base64.b64encode(
    hashlib.sha256(_SMALL_PAGE_STYLE.encode("utf-8")).digest()
).decode("ascii")
_HTML_POLICY = (
    "Content-Security-Policy",
    f"default-src 'none'; style-src 'sha256-{_SMALL_PAGE_STYLE_HASH}'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'",
)
# A CycleReport.to_html() page states its own policy in a <meta> element, at the top of
# its <head> (before the title, the first text from the report): its stylesheet and
# script by their SHA-256 hashes, nothing else. The header repeats it, and forbids framing
# (which a <meta> policy cannot).
_PAGE_POLICY = re.compile(r'<meta http-equiv="Content-Security-Policy" content="([^"<>]+)">')
_PAGE_HEAD_CHARS = 1024
_NO_FRAMING = "frame-ancestors 'none'"


@dataclass
class Request:
    route: str
    """Path below the mount point, without slashes: "collect", "cycles", "metrics" or ""."""
    method: str
    query: dict[str, str]
    """First value of each query parameter."""
    peer: str | None
    authorization: str | None = None
    accept: str | None = None


@dataclass
class Response:
    status: int
    content_type: str
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
                405: "Method Not Allowed", 500: "Internal Server Error"}.get(self.status, "")

    def all_headers(self) -> list[tuple[str, str]]:
        headers = [("Content-Type", self.content_type), ("Content-Length", str(len(self.body)))]
        headers.extend(_SECURITY_HEADERS)
        policies = [name for name, _ in self.headers if name == "Content-Security-Policy"]
        if self.content_type.startswith("text/html") and not policies:
            headers.append(_HTML_POLICY)
        headers.extend(self.headers)
        return headers


def _text(status: int, message: str) -> Response:
    return Response(status, "text/plain; charset=utf-8", (message + "\n").encode("utf-8"))


def choose_format(query_format: str | None, accept: str | None) -> str | None:
    """``?format=`` wins; else ``Accept``; else text. ``None`` for an unknown format."""
    if query_format is not None:
        wanted = query_format.strip().lower()
        return wanted if wanted in _FORMATS else None
    accept = (accept or "").lower()
    if "application/json" in accept:
        return "json"
    if "text/html" in accept:
        return "html"
    return "text"


def _cycle_to_dict(cycle: Cycle) -> dict[str, Any]:
    return {
        "component_size": cycle.component_size,
        "has_finalizer": cycle.has_finalizer,
        "objects": [
            {
                "type": e.type,
                "description": e.description,
                "label": e.label,
                "kind": e.kind,
                "size": e.size,
                "has_finalizer": e.has_finalizer,
                "frame_stack": [list(frame) for frame in e.frame_stack],
                "frame_locals": [list(local) for local in e.frame_locals],
            }
            for e in cycle.entries
        ],
    }


def _group_to_dict(group: CycleGroup) -> dict[str, Any]:
    return {
        "key": group.key,
        "signature": group.signature,
        "count": group.count,
        "total_size": group.total_size,
        "has_finalizer": group.has_finalizer,
        "hint": group.hint.advice if group.hint is not None else None,
        "example": _cycle_to_dict(group.example),
    }


def _collect_json(fields: dict[str, Any], report: CycleReport) -> bytes:
    """``fields`` and ``"report": report.to_json()`` as one JSON object: the core's JSON
    text goes in as it is, without being decoded and encoded again."""
    members = [f"{json.dumps(name)}: {json.dumps(value)}" for name, value in fields.items()]
    members.append(f'"report": {report.to_json()}')
    return ("{" + ", ".join(members) + "}").encode("utf-8")




def _page_policy(page: str) -> tuple[str, str]:
    """The ``Content-Security-Policy`` header for a ``to_html()`` page: the policy the
    page states for itself, read from the top of its head only (where no report text
    is), plus no framing; the strict policy of the small pages if it states none."""
    found = _PAGE_POLICY.search(page, 0, _PAGE_HEAD_CHARS)
    if found is None:
        return _HTML_POLICY
    return ("Content-Security-Policy", f"{found.group(1)}; {_NO_FRAMING}")


def _page(title: str, body: str) -> bytes:
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_SMALL_PAGE_STYLE}</style></head><body>\n"
        f"<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
    ).encode()


def _utc(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(timestamp))


def _top_rows(query: dict[str, str]) -> int | None:
    """``?limit=`` of ``top/`` (rows per table), or None when it is not a number in range."""
    text = query.get("limit")
    if text is None:
        return _TOP_DEFAULT_ROWS
    try:
        rows = int(text)
    except ValueError:
        return None
    return rows if 1 <= rows <= _TOP_MAX_ROWS else None


def _top_html(data: dict[str, Any]) -> str:
    def table(headers: tuple[str, ...], keys: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "<p>None.</p>"
        head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
        body = "".join(
            f"<tr><td><code>{html.escape(row['name'])}</code></td>"
            + "".join(f"<td>{int(row[k]):,}</td>" for k in keys)
            + "</tr>"
            for row in rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    since = data["since"]
    growth_title = (
        f"Growth since the previous call ({_utc(since)} UTC)"
        if since is not None
        else "Growth (the first call: counted from zero; call again to see what grew)"
    )
    return (
        f"<p>{data['objects']:,} objects, {data['bytes']:,} bytes, taken "
        f"{_utc(data['taken_at'])} UTC</p>\n<h2>Types that retain the most</h2>\n"
        + table(("type", "count", "bytes", "retained"), ("count", "size", "retained_size"),
                data["types"])
        + f"\n<h2>{html.escape(growth_title)}</h2>\n"
        + table(("type", "count", "increase", "bytes increase"),
                ("count", "increase", "size_increase"), data["growth"])
    )


def _top_text(data: dict[str, Any]) -> str:
    lines = [
        f"refscope: {data['objects']:,} objects, {data['bytes']:,} bytes",
        "",
        "Types that retain the most:",
        f"  {'type':<48} {'count':>10} {'bytes':>14} {'retained':>14}",
    ]
    lines.extend(
        f"  {t['name'][:48]:<48} {t['count']:>10,} {t['size']:>14,} {t['retained_size']:>14,}"
        for t in data["types"]
    )
    since = data["since"]
    lines += [
        "",
        f"Growth since the previous call ({_utc(since)} UTC):"
        if since is not None
        else "Growth (the first call: counted from zero; call again to see what grew):",
        f"  {'type':<48} {'count':>10} {'increase':>10} {'bytes':>14}",
    ]
    lines.extend(
        f"  {g['name'][:48]:<48} {g['count']:>10,} {g['increase']:>+10,} "
        f"{g['size_increase']:>+14,}"
        for g in data["growth"]
    )
    return "\n".join(lines) + "\n"


def _groups_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>No cycle groups.</p>"
    seen = "first_seen" in rows[0]
    cells = []
    for row in rows:
        hint = f"<br><em>{html.escape(row['hint'])}</em>" if row.get("hint") else ""
        finaliser = " (finaliser)" if row["has_finalizer"] else ""
        times = (
            f"<td>{_utc(row['first_seen'])}</td><td>{_utc(row['last_seen'])}</td>" if seen else ""
        )
        cells.append(
            f"<tr><td>{int(row['count'])}</td><td><code>{html.escape(row['key'])}</code></td>"
            f"<td>{int(row['total_size'])}</td>{times}"
            f"<td><code>{html.escape(row['signature'])}</code>{finaliser}{hint}</td></tr>"
        )
    header = "<th>first seen (UTC)</th><th>last seen (UTC)</th>" if seen else ""
    return (
        f"<table><thead><tr><th>count</th><th>group</th><th>bytes</th>{header}<th>cycle</th>"
        "</tr></thead><tbody>" + "".join(cells) + "</tbody></table>"
    )


class Endpoints:
    """refscope's endpoints, configured once and shared by every request.

    ``monitor``: serve its aggregate at ``cycles/`` and use it for ``collect/`` (so what
    the collection finds is aggregated too). ``token``: see :class:`AccessPolicy`.
    ``frame_locals``: include frames' local variables in ``collect/`` reports (off: they
    may hold secrets); with a monitor, the monitor's own ``frame_locals`` applies.
    """

    def __init__(
        self,
        *,
        monitor: Monitor | None = None,
        token: str | None = None,
        frame_locals: bool = False,
    ) -> None:
        if monitor is not None and not isinstance(monitor, Monitor):
            raise TypeError(f"monitor must be a refscope.Monitor, not {type(monitor).__name__}")
        self.monitor = monitor
        # collect/ goes through a Monitor even without one configured: it frees what the
        # collection kept for the analysis, so the next collect/ does not report it again.
        self._collector = monitor if monitor is not None else Monitor(frame_locals=frame_locals)
        self.policy = AccessPolicy(token)
        self.frame_locals = bool(frame_locals)
        # top/'s growth: the per-type (count, bytes) of the previous call, never the
        # snapshot itself (a whole heap's graph), and when it was taken.
        self._top_lock = threading.Lock()
        self._previous_types: dict[str, tuple[int, int]] | None = None
        self._previous_taken_at: float | None = None

    def handle(self, request: Request) -> Response:
        refusal = self.policy.check(
            request.peer, request.authorization, request.query.get("token")
        )
        if refusal is not None:
            return _text(403, refusal)
        route = request.route.strip("/")
        if route not in ROUTES and route != "":
            return _text(404, f"refscope: no endpoint {route!r}; try collect/, cycles/, metrics, "
                         "snapshot/, top/")
        allowed = ("GET", "HEAD", "POST") if route == "collect" else ("GET", "HEAD")
        if request.method.upper() not in allowed:
            response = _text(405, f"refscope: {request.method} not allowed here")
            response.headers.append(("Allow", ", ".join(allowed)))
            return response
        if route == "metrics":
            return self._metrics()
        if route == "snapshot":
            return self._snapshot(request.query.get("format"))
        fmt = choose_format(request.query.get("format"), request.accept)
        if fmt is None:
            return _text(400, "refscope: format must be text, json or html")
        if route == "collect":
            return self._collect(fmt)
        if route == "cycles":
            return self._cycles(fmt)
        if route == "top":
            return self._top(fmt, request.query)
        return _text(200, "refscope endpoints: collect/ (run a collection), cycles/ (the "
                     "monitor's aggregate), metrics (Prometheus), snapshot/ (download a heap "
                     "snapshot; ?format=heapsnapshot for Chrome DevTools), top/ (types that "
                     "retain the most, and growth since the previous call)")

    # -- collect/ ---------------------------------------------------------------------------

    def _collect(self, fmt: str) -> Response:
        report = self._collector.collect()
        if self.monitor is None:
            self._collector.reset()  # only the configured monitor keeps an aggregate
        collected = report.collected or 0
        garbage = report.analysed_count
        if fmt == "html":
            page = report.to_html(title=f"refscope: Collected: {collected}, Garbage: {garbage}")
            return Response(
                200, "text/html; charset=utf-8", page.encode("utf-8"), [_page_policy(page)]
            )
        groups = [_group_to_dict(group) for group in report.groups]
        if fmt == "json":
            fields = {
                "collected": collected,
                "garbage": garbage,
                "cycle_count": len(report),
                "groups": groups,
            }
            return Response(200, "application/json", _collect_json(fields, report))
        text = report.to_text(color=False, max_objects_per_cycle=_MAX_OBJECTS_PER_CYCLE)
        lines = [f"Collected: {collected}", f"Garbage: {garbage}", f"Groups: {len(groups)}"]
        lines.extend(f"  {g['count']} x [{g['key']}] {g['signature']}" for g in groups)
        lines.append("")
        return Response(
            200, "text/plain; charset=utf-8", ("\n".join(lines) + "\n" + text).encode("utf-8")
        )

    # -- cycles/ ----------------------------------------------------------------------------

    def _cycles(self, fmt: str) -> Response:
        monitor = self.monitor
        if monitor is None:
            return _text(404, "refscope: no Monitor configured for these endpoints")
        if fmt == "json":
            return Response(200, "application/json", json.dumps(monitor.to_dict()).encode())
        if fmt == "html":
            data = monitor.to_dict()
            stats = data["stats"]
            summary = (
                f"<p>{'running' if stats['running'] else 'stopped'}: "
                f"{stats['collections_sampled']} of {stats['collections_seen']} collections "
                f"sampled, {stats['cycles_found']} cycles, overhead "
                f"{stats['overhead']:.2%}, {stats['errors']} errors</p>"
            )
            return Response(
                200,
                "text/html; charset=utf-8",
                _page("refscope: cycles", summary + _groups_table(data["groups"])),
            )
        return Response(200, "text/plain; charset=utf-8", monitor.to_text().encode("utf-8"))

    # -- snapshot/ --------------------------------------------------------------------------

    def _snapshot(self, query_format: str | None) -> Response:
        wanted = (query_format or "refscope").strip().lower()
        if wanted not in _SNAPSHOT_FORMATS:
            return _text(400, "refscope: snapshot/ format must be refscope or heapsnapshot")
        content_type, extension = _SNAPSHOT_FORMATS[wanted]
        # Not the baseline of the user's own growth(); freed as soon as it is encoded.
        heap = snapshot(baseline=False)
        body = heap.to_bytes(wanted)
        name = f"refscope-{heap.pid}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
        del heap
        disposition = f'attachment; filename="{name}.{extension}"'
        return Response(200, content_type, body, [("Content-Disposition", disposition)])

    # -- top/ -------------------------------------------------------------------------------

    def _top(self, fmt: str, query: dict[str, str]) -> Response:
        rows = _top_rows(query)
        if rows is None:
            return _text(400, f"refscope: limit must be a number from 1 to {_TOP_MAX_ROWS}")
        with self._top_lock:  # one snapshot at a time: each call's growth is since the last
            heap = snapshot(baseline=False)
            taken_at = time.time()
            types = heap.top_types()
            objects, total = heap.object_count, heap.total_size
            del heap
            previous, since = self._previous_types, self._previous_taken_at
            self._previous_types = {t.name: (t.count, t.size) for t in types}
            self._previous_taken_at = taken_at
        old = previous or {}
        growth = []
        for t in types:
            count, size = old.get(t.name, (0, 0))
            if t.count > count:
                growth.append({"name": t.name, "count": t.count, "increase": t.count - count,
                               "size_increase": t.size - size})
        growth.sort(key=lambda g: (-g["increase"], g["name"]))
        data = {
            "objects": objects,
            "bytes": total,
            "taken_at": taken_at,
            "since": since,
            "types": [t._asdict() for t in types[:rows]],
            "growth": growth[:rows],
        }
        if fmt == "json":
            return Response(200, "application/json", json.dumps(data).encode("utf-8"))
        if fmt == "html":
            return Response(
                200, "text/html; charset=utf-8", _page("refscope: top types", _top_html(data))
            )
        return Response(200, "text/plain; charset=utf-8", _top_text(data).encode("utf-8"))

    # -- metrics ----------------------------------------------------------------------------

    def _metrics(self) -> Response:
        from .prometheus import exposition

        content_type, body = exposition(self.monitor)
        return Response(200, content_type, body)
