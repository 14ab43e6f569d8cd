"""The recipe's Tornado server built on refscope, served for real on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import threading

import pytest

tornado = pytest.importorskip("tornado")
from tornado import web  # noqa: E402
from tornado.httpserver import HTTPServer  # noqa: E402

import refscope  # noqa: E402
from refscope.integrations.tornado import (  # noqa: E402
    CollectHandler,
    SnapshotHandler,
    refscope_handlers,
)

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
    rules = refscope_handlers("/debug/refscope") + [(r"/heap/", SnapshotHandler)]
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
        assert http_get(port, "/debug/refscope/top/").text.startswith("refscope: ")
        assert http_get(port, "/debug/refscope/snapshot").body.startswith(b"RSCPHEAP")
        assert http_get(port, "/collect/").status == 404
        heap = http_get(port, "/heap/?format=heapsnapshot")
        assert heap.status == 200 and heap.json()["snapshot"]["node_count"] > 1000
    finally:
        holder["loop"].call_soon_threadsafe(holder["loop"].stop)
        thread.join(10)


# -- snapshot/ and top/ ---------------------------------------------------------------------


def _downloaded(reply, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(reply.body)
    return path


def test_snapshot_downloads_the_servers_heap_as_a_file_refscope_load_reads(example, tmp_path):
    for _ in range(4):
        example.get("/leak/")
    reply = example.get("/snapshot/")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/octet-stream"
    disposition = reply.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=") and disposition.endswith('.rscp"')
    snap = refscope.load(_downloaded(reply, tmp_path, "server.rscp"))
    assert snap.pid == example.process.pid
    assert len(snap.by_type("__main__.B")) == 4  # gc is off in the server: all four leaked
    assert len(snap.by_type("__main__.LeakHandler")) == 0  # no handler outlives its request


def test_snapshot_in_devtools_format_is_read_by_devtools(example, tmp_path):
    from .test_heapsnapshot_devtools import _devtools_view

    for _ in range(3):
        example.get("/leak/")
    reply = example.get("/snapshot/?format=heapsnapshot")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["content-disposition"].endswith('.heapsnapshot"')
    data = reply.json()
    assert {"snapshot", "nodes", "edges", "strings"} <= set(data)
    leaked = refscope.load(_downloaded(example.get("/snapshot/"), tmp_path, "same.rscp"))
    ids = leaked.by_type("__main__.B")
    assert len(ids) == 3  # still alive, at the same addresses, in the DevTools download
    view = _devtools_view(_downloaded(reply, tmp_path, "server.heapsnapshot"), ids)
    assert view["nodeCount"] > 1000
    assert {view["found"][str(i % 2**32)]["name"] for i in ids} == {"__main__.B"}
    assert example.get("/snapshot/?format=pdf").status == 400


def test_top_reports_the_growth_since_the_previous_call(example):
    first = example.get("/top/?format=json")
    assert first.status == 200
    assert first.json()["since"] is None
    types = {t["name"]: t for t in first.json()["types"]}
    assert types["dict"]["count"] > 0 and types["dict"]["retained_size"] >= types["dict"]["size"]
    for _ in range(300):
        example.get("/leak/")
    second = example.get("/top/?format=json&limit=1000").json()
    assert second["since"] == first.json()["taken_at"]
    growth = {g["name"]: g for g in second["growth"]}
    assert growth["__main__.B"]["increase"] == 300
    assert growth["__main__.A"]["increase"] == 300
    assert growth["__main__.B"]["count"] == 300
    third = {g["name"] for g in example.get("/top/?format=json").json()["growth"]}
    assert "__main__.B" not in third  # nothing leaked since the second call


def test_top_answers_text_and_html(example):
    text = example.get("/top/")
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text.startswith("refscope: ") and "Types that retain the most:" in text.text
    page = example.get("/top/", {"Accept": "text/html"})
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "<h2>Types that retain the most</h2>" in page.text
    assert example.get("/top/?limit=0").status == 400


def test_snapshot_and_top_keep_the_loopback_and_token_rules():
    server = ExampleServer("--xheaders", "--token", TOKEN)
    try:
        remote = {"X-Real-Ip": "203.0.113.9"}
        for path in ("/snapshot/", "/snapshot/?format=heapsnapshot", "/top/"):
            assert server.get(path).status == 403  # loopback too, once a token is set
            assert server.get(path, remote).status == 403
            assert server.get(path, {**remote, "Authorization": f"Bearer {TOKEN}"}).status == 200
    finally:
        server.close()
    server = ExampleServer("--xheaders")
    try:
        remote = {"X-Real-Ip": "203.0.113.9"}
        assert server.get("/snapshot/", remote).status == 403
        assert server.get("/top/", remote).status == 403
        assert server.get("/top/").status == 200
    finally:
        server.close()
