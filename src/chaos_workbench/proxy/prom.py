"""``/metrics``: the proxy's live counters in Prometheus text format.

A custom ``prometheus_client`` collector reads the manager's counters *at scrape time*, so
a scrape shows the bytes of connections still open (Toxiproxy only counts a link's bytes
when it ends) and the hot path pays nothing for metrics beyond incrementing plain ints.

Metrics (one series per proxy; toxic actions per toxic)::

    toxiproxy_proxy_received_bytes_total{direction,listener,proxy,upstream}   counter
        bytes received by the proxy: direction="upstream" from clients, "downstream"
        from the upstream server (Toxiproxy's name and labels, so its dashboards work)
    toxiproxy_proxy_sent_bytes_total{direction,listener,proxy,upstream}       counter
        bytes the proxy wrote on in that direction, after its toxics
    cwb_proxy_connections_open{proxy}                  gauge    client connections open now
    cwb_proxy_connections_total{proxy}                 counter  client connections accepted
    cwb_proxy_enabled{proxy}                           gauge    1 enabled, 0 disabled (down)
    cwb_proxy_toxic_actions_total{proxy,toxic,type,stream}
                                                       counter  times a toxic acted
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from chaos_workbench.proxy.models import ProxyStats

__all__ = ["CONTENT_TYPE", "ProxyCollector", "metrics_registry", "render"]

CONTENT_TYPE: str = CONTENT_TYPE_LATEST  # Prometheus text format, as prometheus_client names it

StatsSource = Callable[[], Iterable[ProxyStats]]


class ProxyCollector(Collector):
    """Reads ``stats()`` on every scrape and turns it into metric families."""

    def __init__(self, stats: StatsSource) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        received = CounterMetricFamily(
            "toxiproxy_proxy_received_bytes",
            "Bytes received by the proxy, by direction (upstream: from clients).",
            labels=["direction", "listener", "proxy", "upstream"],
        )
        sent = CounterMetricFamily(
            "toxiproxy_proxy_sent_bytes",
            "Bytes the proxy wrote on, by direction, after its toxics.",
            labels=["direction", "listener", "proxy", "upstream"],
        )
        open_now = GaugeMetricFamily(
            "cwb_proxy_connections_open",
            "Client connections open through the proxy now.",
            labels=["proxy"],
        )
        total = CounterMetricFamily(
            "cwb_proxy_connections",
            "Client connections the proxy accepted.",
            labels=["proxy"],
        )
        enabled = GaugeMetricFamily(
            "cwb_proxy_enabled", "1 when the proxy is enabled, 0 when down.", labels=["proxy"]
        )
        actions = CounterMetricFamily(
            "cwb_proxy_toxic_actions",
            "How often a toxic acted on traffic (delayed a chunk, injected an error, ...).",
            labels=["proxy", "toxic", "type", "stream"],
        )
        for proxy in self._stats():
            labels = [proxy.listen, proxy.name, proxy.upstream]
            received.add_metric(["upstream", *labels], proxy.bytes_upstream)
            received.add_metric(["downstream", *labels], proxy.bytes_downstream)
            sent.add_metric(["upstream", *labels], proxy.sent_bytes_upstream)
            sent.add_metric(["downstream", *labels], proxy.sent_bytes_downstream)
            open_now.add_metric([proxy.name], proxy.connections_open)
            total.add_metric([proxy.name], proxy.connections_total)
            enabled.add_metric([proxy.name], 1.0 if proxy.enabled else 0.0)
            for action in proxy.toxic_actions:
                actions.add_metric(
                    [proxy.name, action.toxic, action.type, action.stream.value], action.count
                )
        yield from (received, sent, open_now, total, enabled, actions)


def metrics_registry(stats: StatsSource) -> CollectorRegistry:
    """A registry of its own (not the global one): one per server, nothing else in it."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProxyCollector(stats))
    # The HTTP toxics' count of non-HTTP traffic they passed through (docs/http-toxics.md).
    from chaos_workbench.proxy.http.stats import HttpTrafficCollector

    registry.register(HttpTrafficCollector())
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition of ``registry``."""
    return generate_latest(registry)
