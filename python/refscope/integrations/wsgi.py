"""WSGI: an app to mount, or a middleware that serves refscope's endpoints under a prefix.

::

    from refscope.integrations.wsgi import RefscopeWSGIMiddleware
    application = RefscopeWSGIMiddleware(application, prefix="/_refscope", monitor=monitor)

Serves ``collect/``, ``cycles/``, ``metrics``, ``snapshot/`` and ``top/`` below the prefix.
The peer is ``REMOTE_ADDR``: loopback only unless ``token=`` is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl

from ..monitor import Monitor
from .render import Endpoints, Request

__all__ = ["RefscopeWSGIApp", "RefscopeWSGIMiddleware"]

StartResponse = Callable[..., Any]
Environ = dict[str, Any]


def _serve(endpoints: Endpoints, environ: Environ, route: str,
           start_response: StartResponse) -> Iterable[bytes]:
    query = {}
    for name, value in parse_qsl(environ.get("QUERY_STRING", "")):
        query.setdefault(name, value)
    method = environ.get("REQUEST_METHOD", "GET")
    request = Request(
        route=route,
        method=method,
        query=query,
        peer=environ.get("REMOTE_ADDR"),
        authorization=environ.get("HTTP_AUTHORIZATION"),
        accept=environ.get("HTTP_ACCEPT"),
    )
    response = endpoints.handle(request)
    start_response(f"{response.status} {response.reason}", response.all_headers())
    return [b"" if method == "HEAD" else response.body]


class RefscopeWSGIApp:
    """A WSGI app serving refscope's endpoints at ``PATH_INFO`` (below ``SCRIPT_NAME``)."""

    def __init__(
        self, *, monitor: Monitor | None = None, token: str | None = None,
        frame_locals: bool = False,
    ) -> None:
        self.endpoints = Endpoints(monitor=monitor, token=token, frame_locals=frame_locals)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        return _serve(self.endpoints, environ, environ.get("PATH_INFO", ""), start_response)


class RefscopeWSGIMiddleware:
    """Serves refscope's endpoints at ``{prefix}/collect/``... and passes every other
    request to the wrapped app."""

    def __init__(
        self, app: Callable[[Environ, StartResponse], Iterable[bytes]], *,
        prefix: str = "/_refscope", monitor: Monitor | None = None, token: str | None = None,
        frame_locals: bool = False,
    ) -> None:
        self.app = app
        self.prefix = "/" + prefix.strip("/")
        if self.prefix == "/":
            raise ValueError("RefscopeWSGIMiddleware needs a prefix such as '/_refscope'")
        self.endpoints = Endpoints(monitor=monitor, token=token, frame_locals=frame_locals)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == self.prefix or path.startswith(self.prefix + "/"):
            return _serve(self.endpoints, environ, path[len(self.prefix):], start_response)
        return self.app(environ, start_response)
