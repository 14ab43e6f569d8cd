"""Prometheus metrics of a Monitor: scraped over HTTP and parsed by prometheus_client."""

from __future__ import annotations

import pytest

prometheus_client = pytest.importorskip("prometheus_client")
from prometheus_client import CollectorRegistry, start_http_server  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from refscope.integrations.prometheus import MonitorCollector, render_text  # noqa: E402
from refscope.monitor import Monitor  # noqa: E402

from ._live_servers import free_socket, http_get  # noqa: E402


class Leaky:
    def __init__(self):
        self.me = self


class Keyed:
    def __init__(self):
        # A dict key with a quote, a backslash and a newline ends up in the signature label.
        self.table = {'q"uo\\te\nline': self}


def samples(text, name):
    return [s for family in text_string_to_metric_families(text) for s in family.samples
            if s.name == name]


def rings(length):
    ring = [[] for _ in range(length)]
    for i, item in enumerate(ring):
        item.append(ring[(i + 1) % length])


def test_a_scrape_reports_each_group_with_its_count():
    monitor = Monitor()
    for _ in range(6):
        Leaky()
    monitor.collect()
    registry = CollectorRegistry()
    registry.register(MonitorCollector(monitor))
    probe = free_socket()
    port = probe.getsockname()[1]
    probe.close()  # prometheus_client binds the port itself
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        reply = http_get(port, "/metrics")
    finally:
        server.shutdown()
        thread.join(10)
    assert reply.status == 200
    leaky = [s for s in samples(reply.text, "refscope_group_cycles_total")
             if "Leaky" in s.labels["signature"]]
    assert [s.value for s in leaky] == [6.0]
    [sampled] = samples(reply.text, "refscope_cycles_found_total")
    assert sampled.value >= 6
    assert samples(reply.text, "refscope_gc_collections_total")


def test_the_plain_exposition_parses_and_escapes_labels():
    monitor = Monitor()
    Keyed()
    monitor.collect()
    text = render_text(monitor)
    keyed = [s for s in samples(text, "refscope_group_cycles_total")
             if "Keyed" in s.labels["signature"]]
    assert len(keyed) == 1
    [group] = [g for g in monitor.groups() if "Keyed" in g.signature]
    assert keyed[0].labels["signature"] == group.signature[:120]
    assert keyed[0].labels["group"] == group.key


def test_group_labels_stay_bounded_by_max_groups():
    monitor = Monitor(max_groups=2)
    for length in (1, 2, 3, 4):
        rings(length)
        monitor.collect()
    text = render_text(monitor)
    groups = {s.labels["group"] for s in samples(text, "refscope_group_cycles_total")}
    assert len(groups) == 3 and "other" in groups


def test_metrics_without_a_monitor_still_describe_gc():
    text = render_text(None)
    assert len(samples(text, "refscope_gc_collections_total")) == 3
    assert not samples(text, "refscope_cycles_found_total")
