"""The recipe's Tornado server, built on refscope.

Every request to /leak/ makes an A <-> B cycle whose B has a __del__ (the recipe's
``test()``); /dummy/ answers "ok"; /collect/ runs a full collection and answers
"Collected: N", "Garbage: M" and the cycles found, grouped (text; JSON with
``Accept: application/json`` or ``?format=json``; HTML with ``?format=html``).
With ``--monitor``, a refscope.Monitor samples the collections gc runs by itself and
/cycles/ and /metrics show its aggregate. /snapshot/ downloads a snapshot of the whole
heap (``?format=heapsnapshot`` for Chrome DevTools) and /top/ lists the types that retain
the most, with what grew since the previous call.

    python examples/tornado_server.py                 # gc disabled, as in the recipe
    curl -s localhost:8888/leak/; curl -s localhost:8888/collect/
    python examples/tornado_server.py --gc --monitor  # gc on, sampled by the Monitor

The endpoints answer loopback clients only unless --token is given (then every request
needs ``Authorization: Bearer TOKEN`` or ``?token=TOKEN``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

import refscope
from refscope.integrations.tornado import refscope_handlers


class A:
    def __init__(self, b: B) -> None:
        self.b = b


class B:
    def __init__(self) -> None:
        self.a = A(self)

    def __del__(self) -> None:
        pass


class LeakHandler(web.RequestHandler):
    def get(self) -> None:
        B()  # unreachable at once, but only gc can free it: an A <-> B cycle
        self.write("leaked\n")


class DummyHandler(web.RequestHandler):
    def get(self) -> None:
        self.write("ok\n")


def make_app(monitor: refscope.Monitor | None = None, token: str | None = None) -> web.Application:
    return web.Application([
        (r"/leak/", LeakHandler),
        (r"/dummy/", DummyHandler),
        *refscope_handlers("/", monitor=monitor, token=token),
    ])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    add("--port", type=int, default=8888, help="port; 0 picks a free one (default: 8888)")
    add("--gc", action="store_true", help="leave automatic gc on (the recipe turns it off)")
    add("--monitor", action="store_true",
        help="sample the collections gc runs with a refscope.Monitor")
    add("--token", help="serve /collect/ etc. to non-loopback clients that present this token")
    add("--xheaders", action="store_true",
        help="take the client address from X-Real-Ip / X-Forwarded-For (behind a proxy)")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    monitor = refscope.Monitor().start() if args.monitor else None
    app = make_app(monitor, args.token)
    sockets = bind_sockets(args.port, args.host)
    server = HTTPServer(app, xheaders=args.xheaders)
    server.add_sockets(sockets)
    port = sockets[0].getsockname()[1]
    state = "enabled" if gc.isenabled() else "disabled"
    print(f"listening on http://{args.host}:{port}/ (gc {state}"
          f"{', monitor on' if monitor else ''})", flush=True)
    await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.gc:
        gc.disable()  # as in the recipe: only /collect/ collects
    gc.collect()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
