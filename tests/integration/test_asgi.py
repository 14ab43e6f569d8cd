"""RefscopeApp and RefscopeMiddleware in a Starlette app served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import gc
import threading
import time

import pytest

uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("starlette")
from starlette.applications import Starlette  # noqa: E402
from starlette.responses import PlainTextResponse  # noqa: E402
from starlette.routing import Mount, Route  # noqa: E402

import refscope  # noqa: E402
from refscope.integrations.asgi import RefscopeApp, RefscopeMiddleware  # noqa: E402

from ._live_servers import free_socket, http_get  # noqa: E402

TOKEN = "a-token-long-enough-for-refscope"


class Leaky:
    def __init__(self):
        self.me = self


async def leak(request):
    Leaky()
    return PlainTextResponse("leaked\n")


def keep_a_password_in_a_frame_cycle():
    password = "hunter2-very-secret"  # noqa: F841 - a local the frame cycle keeps
    try:
        raise ValueError("boom")
    except ValueError as error:
        caught = error  # noqa: F841 - frame -> caught -> traceback -> frame


async def secret(request):
    keep_a_password_in_a_frame_cycle()
    return PlainTextResponse("ok\n")


async def hello(request):
    return PlainTextResponse("hello\n")


class Uvicorn:
    """uvicorn serving ``app`` on a free port in a thread, trusting X-Forwarded-For from
    127.0.0.1 (as behind a reverse proxy on the same host)."""

    def __init__(self, app):
        sock = free_socket()
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off", proxy_headers=True,
                                forwarded_allow_ips="127.0.0.1")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)

    def get(self, path, headers=None):
        return http_get(self.port, path, headers)

    def close(self):
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def mounted():
    app = Starlette(routes=[Route("/leak/", leak), Mount("/_refscope", app=RefscopeApp())])
    server = Uvicorn(app)
    yield server
    server.close()


def test_n_leaky_requests_make_collect_report_one_group_of_count_n(mounted):
    gc.disable()
    mounted.get("/_refscope/collect/")
    for _ in range(12):
        assert mounted.get("/leak/").status == 200
    reply = mounted.get("/_refscope/collect/?format=json")
    assert reply.status == 200
    groups = [g for g in reply.json()["groups"] if "Leaky" in g["signature"]]
    assert [g["count"] for g in groups] == [12]


def test_text_is_the_default_and_html_is_escaped_and_self_contained(mounted):
    gc.disable()
    mounted.get("/leak/")
    text = mounted.get("/_refscope/collect/")
    assert text.text.startswith("Collected: ")
    mounted.get("/leak/")
    page = mounted.get("/_refscope/collect/", {"Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    assert 'src="http' not in page.text and 'href="http' not in page.text  # no network
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "test_asgi.Leaky" in page.text


def test_a_peer_beyond_loopback_gets_403(mounted):
    remote = {"X-Forwarded-For": "198.51.100.4"}
    reply = mounted.get("/_refscope/collect/", remote)
    assert reply.status == 403
    assert mounted.get("/leak/", remote).status == 200


def test_the_token_is_required_once_configured():
    app = Starlette(routes=[Mount("/_refscope", app=RefscopeApp(token=TOKEN))])
    server = Uvicorn(app)
    try:
        remote = {"X-Forwarded-For": "198.51.100.4"}
        assert server.get("/_refscope/collect/", remote).status == 403
        assert server.get("/_refscope/collect/").status == 403
        bearer = {**remote, "Authorization": f"Bearer {TOKEN}"}
        assert server.get("/_refscope/collect/", bearer).status == 200
        assert server.get(f"/_refscope/metrics?token={TOKEN}", remote).status == 200
    finally:
        server.close()


def test_the_middleware_serves_its_prefix_and_passes_the_rest():
    inner = Starlette(routes=[Route("/hello", hello), Route("/leak/", leak)])
    server = Uvicorn(RefscopeMiddleware(inner, prefix="/debug/refscope"))
    try:
        gc.disable()
        assert server.get("/hello").text == "hello\n"
        server.get("/debug/refscope/collect/")
        for _ in range(4):
            server.get("/leak/")
        reply = server.get("/debug/refscope/collect/?format=json")
        assert [g["count"] for g in reply.json()["groups"] if "Leaky" in g["signature"]] == [4]
        assert server.get("/debug/refscope/nothing").status == 404
    finally:
        server.close()


def test_add_middleware_mounts_it_the_starlette_and_fastapi_way():
    app = Starlette(routes=[Route("/hello", hello)])
    app.add_middleware(RefscopeMiddleware, prefix="/_refscope", token=TOKEN)
    server = Uvicorn(app)
    try:
        assert server.get("/hello").text == "hello\n"
        assert server.get("/_refscope/cycles/").status == 403
        reply = server.get("/_refscope/collect/", {"Authorization": f"Bearer {TOKEN}"})
        assert reply.status == 200 and reply.text.startswith("Collected: ")
    finally:
        server.close()


@pytest.mark.parametrize("frame_locals", [False, True])
def test_frame_locals_are_shown_only_when_configured(frame_locals):
    app = Starlette(routes=[
        Route("/secret/", secret),
        Mount("/_refscope", app=RefscopeApp(frame_locals=frame_locals)),
    ])
    server = Uvicorn(app)
    try:
        gc.disable()
        server.get("/_refscope/collect/")
        server.get("/secret/")
        reply = server.get("/_refscope/collect/?format=json")
        assert "keep_a_password_in_a_frame_cycle" in reply.text  # the frame is reported
        assert ("hunter2-very-secret" in reply.text) is frame_locals
    finally:
        server.close()


# -- snapshot/ and top/ ---------------------------------------------------------------------

Hostile = type("<img src=x onerror=alert(1)>", (), {})


def test_top_shows_growth_with_type_names_escaped(mounted):
    name = f"{Hostile.__module__}.{Hostile.__qualname__}"
    first = mounted.get("/_refscope/top/?format=json").json()
    assert first["since"] is None
    held = [Hostile() for _ in range(5000)]
    second = mounted.get("/_refscope/top/?format=json").json()
    assert {g["name"]: g["increase"] for g in second["growth"]}[name] == 5000
    held += [Hostile() for _ in range(2000)]
    page = mounted.get("/_refscope/top/?format=html")
    assert page.status == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "Growth since the previous call" in page.text
    assert "test_asgi.&lt;img src=x onerror=alert(1)&gt;</code></td><td>7,000</td><td>2,000" \
        in page.text
    assert "<img" not in page.text
    del held


def test_snapshot_downloads_a_file_with_the_processes_objects(mounted, tmp_path):
    marker = [Hostile() for _ in range(7)]
    reply = mounted.get("/_refscope/snapshot/")
    assert reply.status == 200
    assert "attachment" in reply.headers["content-disposition"]
    path = tmp_path / "heap.rscp"
    path.write_bytes(reply.body)
    snap = refscope.load(path)
    assert set(snap.by_type(Hostile.__qualname__)) >= {id(m) for m in marker}
    chain = snap.why_alive(marker[3])
    assert chain is not None and chain.steps[-1][0] == "[3]"
    devtools = mounted.get("/_refscope/snapshot/?format=heapsnapshot")
    ids = set(devtools.json()["nodes"][2::len(devtools.json()["snapshot"]["meta"]["node_fields"])])
    assert id(marker[3]) in ids


def test_snapshot_and_top_need_the_token_once_configured():
    server = Uvicorn(Starlette(routes=[Mount("/_refscope", app=RefscopeApp(token=TOKEN))]))
    try:
        remote = {"X-Forwarded-For": "198.51.100.4"}
        for path in ("/_refscope/snapshot/", "/_refscope/top/"):
            assert server.get(path).status == 403
            assert server.get(path, remote).status == 403
            assert server.get(path, {**remote, "Authorization": f"Bearer {TOKEN}"}).status == 200
    finally:
        server.close()
