"""Tornado handlers: the recipe's ``/collect/``, the Monitor's ``/cycles/`` and ``/metrics``,
heap snapshots at ``/snapshot/`` and the types that retain the most at ``/top/``.

::

    from tornado import web
    from refscope.integrations.tornado import refscope_handlers

    app = web.Application([
        (r"/dummy/", DummyHandler),
        *refscope_handlers("/", monitor=monitor),   # /collect/, /cycles/, /metrics,
    ])                                              # /snapshot/, /top/

Each request is served in the IOLoop's default executor, so the loop keeps serving other
requests while a collection runs (the analysis itself holds the GIL). Loopback clients
only, unless ``token=`` is given; then every request must carry it.
"""

from __future__ import annotations

import re
from typing import Any

from tornado import web
from tornado.ioloop import IOLoop

from ..monitor import Monitor
from .render import Endpoints, Request

__all__ = ["CollectHandler", "CyclesHandler", "MetricsHandler", "RefscopeHandler",
           "SnapshotHandler", "TopHandler", "refscope_handlers"]

_default_endpoints: Endpoints | None = None


def _defaults() -> Endpoints:
    global _default_endpoints
    if _default_endpoints is None:
        _default_endpoints = Endpoints()
    return _default_endpoints


class RefscopeHandler(web.RequestHandler):
    """Serves one refscope endpoint: the ``route`` given at mount time, a class's
    ``route``, or the first group of the URL pattern."""

    route = ""

    def initialize(self, endpoints: Endpoints | None = None, route: str | None = None) -> None:
        self._endpoints = endpoints if endpoints is not None else _defaults()
        if route is not None:
            self.route = route

    async def _serve(self, route: str | None) -> None:
        request = Request(
            route=route if route is not None else self.route,
            method=self.request.method or "GET",
            query={name: self.get_query_argument(name) for name in self.request.query_arguments},
            peer=self.request.remote_ip,
            authorization=self.request.headers.get("Authorization"),
            accept=self.request.headers.get("Accept"),
        )
        response = await IOLoop.current().run_in_executor(None, self._endpoints.handle, request)
        self.set_status(response.status)
        for name, value in response.all_headers():
            if name != "Content-Length":
                self.set_header(name, value)
        if self.request.method != "HEAD":
            self.write(response.body)

    async def get(self, route: str | None = None) -> None:
        await self._serve(route)

    async def head(self, route: str | None = None) -> None:
        await self._serve(route)

    async def post(self, route: str | None = None) -> None:
        await self._serve(route)


class CollectHandler(RefscopeHandler):
    """The recipe's ``/collect/``: runs a full collection and answers "Collected: N",
    "Garbage: M" and the report (text, JSON or HTML by ``Accept`` or ``?format=``)."""

    route = "collect"


class CyclesHandler(RefscopeHandler):
    """The aggregate of a :class:`refscope.Monitor` (pass ``endpoints=`` with one)."""

    route = "cycles"


class MetricsHandler(RefscopeHandler):
    """Prometheus metrics of gc and of the monitor."""

    route = "metrics"


class SnapshotHandler(RefscopeHandler):
    """A heap snapshot of the whole process, as a download: refscope's format (read it
    with ``refscope.load``), or a Chrome DevTools ``.heapsnapshot`` with
    ``?format=heapsnapshot``."""

    route = "snapshot"


class TopHandler(RefscopeHandler):
    """The types that retain the most, and per type the growth since the previous call
    (text, JSON or HTML)."""

    route = "top"


def refscope_handlers(
    prefix: str = "/",
    *,
    monitor: Monitor | None = None,
    token: str | None = None,
    frame_locals: bool = False,
) -> list[tuple[str, type[RefscopeHandler], dict[str, Any]]]:
    """URL rules for ``web.Application``: ``{prefix}collect/``, ``{prefix}cycles/``,
    ``{prefix}metrics``, ``{prefix}snapshot/`` and ``{prefix}top/``, sharing one
    configuration (and so one growth baseline for ``top/``)."""
    endpoints = Endpoints(monitor=monitor, token=token, frame_locals=frame_locals)
    base = "/" + prefix.strip("/")
    base = "" if base == "/" else base
    pattern = re.escape(base) + r"/(collect|cycles|metrics|snapshot|top)/?"
    return [(pattern, RefscopeHandler, {"endpoints": endpoints})]
