"""ASGI: an app to mount (Starlette ``Mount``, FastAPI ``app.mount``) or a middleware.

::

    from starlette.applications import Starlette
    from starlette.routing import Mount
    from refscope.integrations.asgi import RefscopeApp, RefscopeMiddleware

    app = Starlette(routes=[Mount("/_refscope", app=RefscopeApp(monitor=monitor))])
    # or: app.add_middleware(RefscopeMiddleware, prefix="/_refscope", monitor=monitor)

Serves ``collect/``, ``cycles/``, ``metrics``, ``snapshot/`` and ``top/`` below the
mount point, each request in the event loop's default executor so the loop keeps
serving while a collection runs.
The peer is ``scope["client"]``: loopback only unless ``token=`` is given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from ..monitor import Monitor
from .render import Endpoints, Request

__all__ = ["RefscopeApp", "RefscopeMiddleware"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


async def _serve(endpoints: Endpoints, scope: Scope, route: str, send: Send) -> None:
    query = {}
    for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1")):
        query.setdefault(name, value)
    client = scope.get("client")
    request = Request(
        route=route,
        method=scope.get("method", "GET"),
        query=query,
        peer=client[0] if client else None,
        authorization=_header(scope, b"authorization"),
        accept=_header(scope, b"accept"),
    )
    response = await asyncio.get_running_loop().run_in_executor(None, endpoints.handle, request)
    await send({
        "type": "http.response.start",
        "status": response.status,
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in response.all_headers()],
    })
    body = b"" if request.method == "HEAD" else response.body
    await send({"type": "http.response.body", "body": body})


def _relative_path(scope: Scope) -> str:
    path = scope.get("path", "")
    root = scope.get("root_path", "")
    # Starlette's Mount keeps the full path and extends root_path; older versions and
    # other routers pass the remainder. Both end up relative here.
    if root and path.startswith(root):
        path = path[len(root):]
    return path


class RefscopeApp:
    """An ASGI app serving refscope's endpoints below wherever it is mounted."""

    def __init__(
        self, *, monitor: Monitor | None = None, token: str | None = None,
        frame_locals: bool = False,
    ) -> None:
        self.endpoints = Endpoints(monitor=monitor, token=token, frame_locals=frame_locals)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        await _serve(self.endpoints, scope, _relative_path(scope), send)


class RefscopeMiddleware:
    """Serves refscope's endpoints at ``{prefix}/collect/``... and passes every other
    request to the wrapped app."""

    def __init__(
        self, app: Callable[..., Awaitable[None]], *, prefix: str = "/_refscope",
        monitor: Monitor | None = None, token: str | None = None, frame_locals: bool = False,
    ) -> None:
        self.app = app
        self.prefix = "/" + prefix.strip("/")
        if self.prefix == "/":
            raise ValueError("RefscopeMiddleware needs a prefix such as '/_refscope'")
        self.endpoints = Endpoints(monitor=monitor, token=token, frame_locals=frame_locals)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = _relative_path(scope)
            if path == self.prefix or path.startswith(self.prefix + "/"):
                await _serve(self.endpoints, scope, path[len(self.prefix):], send)
                return
        await self.app(scope, receive, send)
