"""The recipe's Tornado server built on refscope, served for real on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest

tornado = pytest.importorskip("tornado")
from tornado import web  # noqa: E402
from tornado.httpserver import HTTPServer  # noqa: E402

from refscope.integrations.tornado import CollectHandler, refscope_handlers  # noqa: E402

from ._live_servers import ExampleServer, free_socket, http_get  # noqa: E402

TOKEN = "a-token-long-enough-for-refscope"


@pytest.fixture
def example():
    server = ExampleServer()
    yield server
    server.close()


def leak_group(reply):
    groups = [g for g in reply.json()["groups"] if "__main__.B" in g["signature"]]
    return groups


def test_n_leaky_requests_make_collect_report_one_group_of_count_n(example):
    example.get("/collect/")  # whatever start-up left behind
    for _ in range(25):
        assert example.get("/leak/").status == 200
    reply = example.get("/collect/?format=json")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("application/json")
    groups = leak_group(reply)
    assert len(groups) == 1
    assert groups[0]["count"] == 25
    assert groups[0]["has_finalizer"]
    assert reply.json()["collected"] >= 50


def test_collect_answers_the_recipes_text_by_default(example):
    example.get("/leak/")
    reply = example.get("/collect/")
    lines = reply.text.splitlines()
    assert lines[0].startswith("Collected: ")
    assert lines[1].startswith("Garbage: ")
    assert "__main__.A .b -> __main__.B .a" in reply.text
    assert reply.headers["content-type"].startswith("text/plain")


def test_collect_answers_json_by_accept_and_html_by_format(example):
    example.get("/leak/")
    by_accept = example.get("/collect/", {"Accept": "application/json"})
    assert len(leak_group(by_accept)) == 1
    example.get("/leak/")
    page = example.get("/collect/?format=html")
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "Collected: " in page.text and "__main__.A .b -&gt; __main__.B .a" in page.text
    assert example.get("/collect/?format=xml").status == 400


def test_a_second_collect_does_not_report_the_same_leaks(example):
    example.get("/collect/")
    for _ in range(3):
        example.get("/leak/")
    assert leak_group(example.get("/collect/?format=json"))[0]["count"] == 3
    assert leak_group(example.get("/collect/?format=json")) == []


def test_dummy_is_served_as_in_the_recipe(example):
    reply = example.get("/dummy/")
    assert (reply.status, reply.text) == (200, "ok\n")


def test_clients_beyond_loopback_get_403_without_a_token():
    server = ExampleServer("--xheaders")  # the peer address comes from X-Real-Ip
    try:
        assert server.get("/collect/").status == 200
        remote = server.get("/collect/", {"X-Real-Ip": "203.0.113.9"})
        assert remote.status == 403
        assert "loopback" in remote.text
        assert server.get("/cycles/", {"X-Real-Ip": "203.0.113.9"}).status == 403
        assert server.get("/metrics", {"X-Real-Ip": "203.0.113.9"}).status == 403
        assert server.get("/dummy/", {"X-Real-Ip": "203.0.113.9"}).status == 200
    finally:
        server.close()


def test_with_a_token_every_request_must_present_it():
    server = ExampleServer("--xheaders", "--token", TOKEN)
    try:
        remote = {"X-Real-Ip": "203.0.113.9"}
        assert server.get("/collect/").status == 403  # loopback too: proxies look local
        assert server.get("/collect/", {**remote, "Authorization": "Bearer wrong"}).status == 403
        assert server.get(f"/collect/?token={TOKEN}x", remote).status == 403
        ok = server.get("/collect/", {**remote, "Authorization": f"Bearer {TOKEN}"})
        assert ok.status == 200 and ok.text.startswith("Collected: ")
        assert server.get(f"/collect/?token={TOKEN}", remote).status == 200
    finally:
        server.close()


def test_the_monitor_aggregate_and_metrics_are_served():
    server = ExampleServer("--gc", "--monitor")
    try:
        groups = []
        for _ in range(40):  # until gc, running by itself, had a sampled collection free B
            for _ in range(250):
                server.get("/leak/")
            cycles = server.get("/cycles/?format=json").json()
            groups = [g for g in cycles["groups"] if "__main__.B" in g["signature"]]
            if groups:
                break
        assert cycles["stats"]["collections_sampled"] >= 1
        assert len(groups) == 1 and groups[0]["count"] >= 1
        assert "refscope monitor: running" in server.get("/cycles/").text
        metrics = server.get("/metrics").text
        assert f'refscope_group_cycles_total{{group="{groups[0]["key"]}"' in metrics
    finally:
        server.close()


class Blocker:
    """A cycle whose finaliser waits for the test: a collection that stays in progress."""

    entered = threading.Event()
    release = threading.Event()

    def __init__(self):
        self.me = self

    def __del__(self):
        Blocker.entered.set()
        Blocker.release.wait(30)


def test_requests_are_served_while_collect_is_running_a_collection():
    class Dummy(web.RequestHandler):
        def get(self):
            self.write("ok\n")

    sock = free_socket()
    port = sock.getsockname()[1]
    loop_ready = threading.Event()
    holder = {}

    def serve():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        app = web.Application([(r"/dummy/", Dummy), (r"/collect/", CollectHandler)])
        server = HTTPServer(app)
        server.add_sockets([sock])
        holder["loop"], holder["server"] = loop, server
        loop_ready.set()
        loop.run_forever()
        server.stop()
        loop.run_until_complete(server.close_all_connections())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    loop_ready.wait(10)
    gc.disable()
    Blocker.entered.clear()
    Blocker.release.clear()
    Blocker()
    collect_reply = {}
    collector = threading.Thread(target=lambda: collect_reply.update(r=http_get(port, "/collect/")))
    try:
        collector.start()
        assert Blocker.entered.wait(30), "the collection never reached the finaliser"
        dummy = http_get(port, "/dummy/")  # answered while the collection is in progress
        assert (dummy.status, dummy.text) == (200, "ok\n")
        assert "r" not in collect_reply
    finally:
        Blocker.release.set()
        collector.join(30)
        holder["loop"].call_soon_threadsafe(holder["loop"].stop)
        thread.join(10)
    assert collect_reply["r"].status == 200
    assert "test_tornado_endpoints.Blocker .me" in collect_reply["r"].text


def test_handlers_mount_under_a_prefix():
    rules = refscope_handlers("/debug/refscope")
    app = web.Application(rules)
    sock = free_socket()
    port = sock.getsockname()[1]
    ready = threading.Event()
    holder = {}

    def serve():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        server = HTTPServer(app)
        server.add_sockets([sock])
        holder["loop"] = loop
        ready.set()
        loop.run_forever()
        server.stop()
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(10)
    try:
        assert http_get(port, "/debug/refscope/collect/").text.startswith("Collected: ")
        assert http_get(port, "/debug/refscope/cycles/").status == 404  # no monitor given
        assert http_get(port, "/collect/").status == 404
    finally:
        holder["loop"].call_soon_threadsafe(holder["loop"].stop)
        thread.join(10)
