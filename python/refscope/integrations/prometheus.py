"""Prometheus metrics of gc and of a refscope Monitor.

With ``prometheus_client`` installed, register a collector in your registry::

    from prometheus_client import REGISTRY
    from refscope.integrations.prometheus import MonitorCollector
    REGISTRY.register(MonitorCollector(monitor))

Without it, :func:`render_text` gives the text exposition format (0.0.4), which the
``metrics`` endpoint of the Tornado/ASGI/WSGI integrations serves. Label cardinality is
bounded: one ``group`` label value per group of the monitor's aggregate (at most
``max_groups``, plus ``other`` for evicted groups).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

from ..monitor import Monitor

__all__ = ["MonitorCollector", "exposition", "metric_families", "render_text"]

PLAIN_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_MAX_SIGNATURE_LABEL = 120

# (name without _total, "counter" | "gauge", help, [(labels, value), ...])
Family = tuple[str, str, str, list[tuple[dict[str, str], float]]]


def metric_families(monitor: Monitor | None) -> list[Family]:
    """The metrics, framework-neutral."""
    per_generation = gc.get_stats()

    def by_generation(key: str) -> list[tuple[dict[str, str], float]]:
        return [
            ({"generation": str(g)}, float(stats.get(key, 0)))
            for g, stats in enumerate(per_generation)
        ]

    families: list[Family] = [
        ("refscope_gc_collections", "counter", "Collections run by gc, by generation.",
         by_generation("collections")),
        ("refscope_gc_collected_objects", "counter",
         "Objects gc found unreachable, by generation.", by_generation("collected")),
        ("refscope_gc_uncollectable_objects", "counter",
         "Objects gc could not free, by generation.", by_generation("uncollectable")),
        ("refscope_gc_garbage_objects", "gauge", "Entries in gc.garbage now.",
         [({}, float(len(gc.garbage)))]),
    ]
    if monitor is None:
        return families
    stats = monitor.stats()
    groups = monitor.groups()
    cycles_by_group = [
        ({"group": g.key, "signature": _label_text(g.signature)}, float(g.count)) for g in groups
    ]
    bytes_by_group = [({"group": g.key}, float(g.total_size)) for g in groups]
    if stats.other_count:
        cycles_by_group.append(({"group": "other", "signature": ""}, float(stats.other_count)))
    families += [
        ("refscope_monitor_running", "gauge", "1 while the refscope Monitor samples collections.",
         [({}, 1.0 if stats.running else 0.0)]),
        ("refscope_sampled_collections", "counter",
         "Collections the refscope Monitor analysed, by generation.",
         [({"generation": str(g)}, float(n)) for g, n in enumerate(stats.sampled_by_generation)]),
        ("refscope_skipped_collections", "counter",
         "Candidate collections not analysed to stay within the overhead budget.",
         [({}, float(stats.skipped_for_budget))]),
        ("refscope_sampled_garbage_objects", "counter",
         "Unreachable objects analysed in sampled collections.",
         [({}, float(stats.garbage_objects))]),
        ("refscope_cycles_found", "counter", "Reference cycles found in sampled collections.",
         [({}, float(stats.cycles_found))]),
        ("refscope_group_cycles", "counter",
         "Reference cycles found, by cycle group (group=other: evicted groups).",
         cycles_by_group),
        ("refscope_group_bytes", "counter",
         "Shallow bytes of the cycles found, by cycle group.", bytes_by_group),
        ("refscope_groups", "gauge", "Cycle groups in the Monitor's aggregate.",
         [({}, float(stats.groups))]),
        ("refscope_analysis_seconds", "counter", "Time the Monitor spent in gc callbacks.",
         [({}, stats.analysis_seconds)]),
        ("refscope_errors", "counter", "Errors the Monitor caught in gc callbacks.",
         [({}, float(stats.errors))]),
    ]
    return families


def _label_text(text: str) -> str:
    return text if len(text) <= _MAX_SIGNATURE_LABEL else text[: _MAX_SIGNATURE_LABEL - 1] + "…"


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _format_value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render_text(monitor: Monitor | None) -> str:
    """The metrics in Prometheus' text exposition format, without prometheus_client."""
    lines = []
    for name, kind, help_text, samples in metric_families(monitor):
        sample_name = name + "_total" if kind == "counter" else name
        lines.append(f"# HELP {sample_name} {help_text}")
        lines.append(f"# TYPE {sample_name} {kind}")
        for labels, value in samples:
            if labels:
                inner = ",".join(f'{key}="{_escape_label(val)}"' for key, val in labels.items())
                lines.append(f"{sample_name}{{{inner}}} {_format_value(value)}")
            else:
                lines.append(f"{sample_name} {_format_value(value)}")
    return "\n".join(lines) + "\n"


class MonitorCollector:
    """A ``prometheus_client`` collector for gc and (optionally) a refscope Monitor."""

    def __init__(self, monitor: Monitor | None = None) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        for name, kind, help_text, samples in metric_families(self.monitor):
            label_names = sorted({key for labels, _ in samples for key in labels})
            family_type = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
            family = family_type(name, help_text, labels=label_names)
            for labels, value in samples:
                family.add_metric([labels.get(key, "") for key in label_names], value)
            yield family

    def describe(self) -> list[Any]:
        return []  # computed at scrape time; registering must not scrape


def exposition(monitor: Monitor | None) -> tuple[str, bytes]:
    """(content type, body) of the metrics: through prometheus_client when installed,
    else the plain text format."""
    try:
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.exposition import CONTENT_TYPE_LATEST
    except ImportError:
        return PLAIN_CONTENT_TYPE, render_text(monitor).encode("utf-8")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(monitor))
    return CONTENT_TYPE_LATEST, generate_latest(registry)
