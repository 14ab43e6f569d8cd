"""RefscopeWSGIApp and RefscopeWSGIMiddleware served by waitress on 127.0.0.1."""

from __future__ import annotations

import gc
import threading

import pytest

waitress = pytest.importorskip("waitress")

import refscope  # noqa: E402
from refscope.integrations.wsgi import RefscopeWSGIApp, RefscopeWSGIMiddleware  # noqa: E402

from ._live_servers import http_get  # noqa: E402

TOKEN = "a-token-long-enough-for-refscope"


class Leaky:
    def __init__(self):
        self.me = self


def application(environ, start_response):
    if environ["PATH_INFO"] == "/leak/":
        Leaky()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"app\n"]


class Waitress:
    """waitress serving ``app`` on a free port in a thread; it takes REMOTE_ADDR from
    X-Forwarded-For sent by 127.0.0.1 (as behind a reverse proxy on the same host)."""

    def __init__(self, app):
        self.server = waitress.create_server(
            app, host="127.0.0.1", port=0, threads=2, trusted_proxy="127.0.0.1",
            trusted_proxy_headers={"x-forwarded-for"}, clear_untrusted_proxy_headers=True,
        )
        self.port = self.server.effective_port
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def get(self, path, headers=None):
        return http_get(self.port, path, headers)

    def close(self):
        # First stop the worker threads: a worker that finishes a response pulls the
        # server's trigger (os.write on its pipe) to wake the loop, and once the loop has
        # closed that pipe the write fails with EBADF, or lands in whatever file reused
        # the descriptor. Then close every channel from the server's own loop thread
        # (closing the listening socket from here races with its select()); the loop
        # ends when none is left.
        self.server.task_dispatcher.shutdown(cancel_pending=False, timeout=10)

        def stop():
            for channel in list(self.server._map.values()):
                channel.close()

        self.server.trigger.pull_trigger(stop)
        self.thread.join(10)


@pytest.fixture
def middleware():
    server = Waitress(RefscopeWSGIMiddleware(application, prefix="/_refscope"))
    yield server
    server.close()


def test_n_leaky_requests_make_collect_report_one_group_of_count_n(middleware):
    gc.disable()
    middleware.get("/_refscope/collect/")
    for _ in range(9):
        assert middleware.get("/leak/").text == "app\n"
    reply = middleware.get("/_refscope/collect/?format=json")
    assert reply.status == 200
    assert [g["count"] for g in reply.json()["groups"] if "Leaky" in g["signature"]] == [9]


def test_collect_answers_the_recipes_text(middleware):
    gc.disable()
    middleware.get("/leak/")
    lines = middleware.get("/_refscope/collect/").text.splitlines()
    assert lines[0].startswith("Collected: ") and lines[1].startswith("Garbage: ")
    assert any("test_wsgi.Leaky .me" in line for line in lines)


def test_a_peer_beyond_loopback_gets_403(middleware):
    remote = {"X-Forwarded-For": "192.0.2.10"}
    assert middleware.get("/_refscope/collect/", remote).status == 403
    assert middleware.get("/_refscope/cycles/", remote).status == 403
    assert middleware.get("/other", remote).text == "app\n"


def test_the_token_is_required_once_configured():
    server = Waitress(RefscopeWSGIApp(token=TOKEN))
    try:
        remote = {"X-Forwarded-For": "192.0.2.10"}
        assert server.get("/collect/", remote).status == 403
        assert server.get("/collect/", {"Authorization": "Bearer nope"}).status == 403
        reply = server.get("/collect/", {**remote, "Authorization": f"Bearer {TOKEN}"})
        assert reply.status == 200 and reply.text.startswith("Collected: ")
    finally:
        server.close()


def test_post_collects_and_other_methods_are_refused(middleware):
    assert http_get(middleware.port, "/_refscope/collect/", method="POST").status == 200
    refused = http_get(middleware.port, "/_refscope/cycles/", method="DELETE")
    assert refused.status == 405
    assert refused.headers["allow"] == "GET, HEAD"


# -- snapshot/ and top/ ---------------------------------------------------------------------


class Marker:
    pass


MARKER = f"{Marker.__module__}.Marker"


def test_snapshot_serves_both_formats_of_this_process(middleware, tmp_path):
    markers = [Marker() for _ in range(11)]
    reply = middleware.get("/_refscope/snapshot/?format=refscope")
    assert reply.status == 200 and reply.headers["content-type"] == "application/octet-stream"
    path = tmp_path / "heap.rscp"
    path.write_bytes(reply.body)
    snap = refscope.load(path)
    assert set(snap.by_type(MARKER)) == {id(m) for m in markers}
    devtools = middleware.get("/_refscope/snapshot/?format=heapsnapshot")
    assert devtools.headers["content-disposition"].endswith('.heapsnapshot"')
    data = devtools.json()
    names = {data["strings"][name] for name in data["nodes"][1::len(data["snapshot"]["meta"]
                                                                        ["node_fields"])]}
    assert MARKER in names
    assert middleware.get("/other").text == "app\n"


def test_top_counts_growth_per_mounted_app(middleware):
    other = Waitress(RefscopeWSGIApp())
    try:
        middleware.get("/_refscope/top/?format=json")
        other.get("/top/?format=json")
        markers = [Marker() for _ in range(400)]
        grown = middleware.get("/_refscope/top/?format=json").json()["growth"]
        assert {g["name"]: g["increase"] for g in grown}[MARKER] == 400
        markers += [Marker() for _ in range(100)]
        # The second app has its own baseline: its previous call came before all 500.
        grown = other.get("/top/?format=json").json()["growth"]
        assert {g["name"]: g["increase"] for g in grown}[MARKER] == 500
        del markers
    finally:
        other.close()


def test_snapshot_and_top_answer_loopback_only(middleware):
    remote = {"X-Forwarded-For": "192.0.2.10"}
    assert middleware.get("/_refscope/snapshot/", remote).status == 403
    assert middleware.get("/_refscope/top/", remote).status == 403
    refused = http_get(middleware.port, "/_refscope/snapshot/", method="POST")
    assert refused.status == 405
