"""Process-wide counters of traffic the HTTP toxics passed through without understanding it.

A connection that carries HTTP toxics but turns out not to speak HTTP/1.x (a database
protocol, TLS, garbage, a server that talks first) is relayed untouched; these counters
say how often that happened, so a user who put HTTP toxics on the wrong proxy sees it in
the metrics instead of wondering why nothing was injected. Upgrades (101, CONNECT tunnels)
are HTTP doing what it should and are not counted. Read with :func:`http_traffic_stats`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict

__all__ = ["HttpTrafficCollector", "HttpTrafficStats", "http_traffic_stats"]


class HttpTrafficStats(BaseModel):
    """A snapshot: monotonic counters since the process started."""

    model_config = ConfigDict(frozen=True)

    non_http_connections: int
    """Connections (with an HTTP toxic) that stopped being framed as HTTP/1.x."""
    non_http_bytes: int
    """Bytes relayed untouched on those connections, both directions."""


class _Counters:
    # A lock because a proxy may run loops in more than one thread (tests do); the
    # increments are rare (once per non-HTTP connection, once per opaque chunk).
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.connections = 0
        self.bytes = 0

    def add(self, connections: int = 0, nbytes: int = 0) -> None:
        with self._lock:
            self.connections += connections
            self.bytes += nbytes


COUNTERS = _Counters()


def http_traffic_stats() -> HttpTrafficStats:
    """The counters now (cheap; safe to call from a metrics scrape)."""
    return HttpTrafficStats(
        non_http_connections=COUNTERS.connections, non_http_bytes=COUNTERS.bytes
    )


class HttpTrafficCollector(Collector):
    """Prometheus collector for these counters, read at scrape time.

    Register it next to the proxy's own collector::

        registry.register(HttpTrafficCollector())

    Metrics: ``cwb_proxy_http_passthrough_connections_total`` and
    ``cwb_proxy_http_passthrough_bytes_total`` (process-wide: the toxics do not know which
    proxy a connection belongs to, and one ``cwb proxy`` process is one server).
    """

    def collect(self) -> Iterator[Metric]:
        stats = http_traffic_stats()
        yield CounterMetricFamily(
            "cwb_proxy_http_passthrough_connections",
            "Connections with HTTP toxics that were not HTTP/1.x and were relayed untouched.",
            value=stats.non_http_connections,
        )
        yield CounterMetricFamily(
            "cwb_proxy_http_passthrough_bytes",
            "Bytes relayed untouched on those connections (both directions).",
            value=stats.non_http_bytes,
        )
