"""refscope's HTTP endpoints and metrics, for servers that want to leave it on.

Nothing here is imported by ``import refscope``, and nothing is served unless mounted:

- :mod:`refscope.integrations.tornado`: ``refscope_handlers()``, ``CollectHandler``...
- :mod:`refscope.integrations.asgi`: ``RefscopeApp`` and ``RefscopeMiddleware``
  (Starlette, FastAPI, any ASGI server)
- :mod:`refscope.integrations.wsgi`: ``RefscopeWSGIApp`` and ``RefscopeWSGIMiddleware``
- :mod:`refscope.integrations.prometheus`: ``MonitorCollector`` and ``render_text()``

Each mount serves ``collect/``, ``cycles/``, ``metrics``, ``snapshot/`` (a heap snapshot
to download) and ``top/`` (the types that retain the most, and growth since the previous
call). Every endpoint answers loopback clients only, unless a token is configured (then every
request must carry it, as ``Authorization: Bearer <token>`` or ``?token=``); frames'
local variables are left out of reports unless ``frame_locals=True``.
See docs/production.md.
"""
