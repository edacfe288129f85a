"""HTTP/1.1-aware toxics: ``http_error``, ``http_latency``, ``http_abort``, ``http_header``.

Importing this package registers the four toxic types with the proxy's toxic registry, so
``add_toxic`` and the REST API accept them by ``type``. They act per HTTP message (not per
TCP chunk) and understand keep-alive, pipelining, chunked bodies, ``Expect:
100-continue``, HEAD and 1xx responses; traffic that is not HTTP/1.x passes through
untouched and is counted (:func:`http_traffic_stats`). See ``docs/http-toxics.md``.

Module map: ``_heads`` (one head, parsed and checked by httptools), ``_framing`` (sans-IO
message boundaries), ``_session`` (one connection's request/response bookkeeping),
``_toxic`` (how the toxics share a session inside the proxy's pipe chains), ``_match``
(method and path patterns), ``stats`` (passthrough counters), one file per toxic type.
"""

from __future__ import annotations

from chaos_workbench.proxy.http._match import MessageMatch
from chaos_workbench.proxy.http.abort import HttpAbort, HttpAbortToxic
from chaos_workbench.proxy.http.error import HttpError, HttpErrorToxic
from chaos_workbench.proxy.http.header import HttpHeader, HttpHeaderToxic
from chaos_workbench.proxy.http.latency import HttpLatency, HttpLatencyToxic
from chaos_workbench.proxy.http.stats import (
    HttpTrafficCollector,
    HttpTrafficStats,
    http_traffic_stats,
)

__all__ = [
    "HttpAbort",
    "HttpAbortToxic",
    "HttpError",
    "HttpErrorToxic",
    "HttpHeader",
    "HttpHeaderToxic",
    "HttpLatency",
    "HttpLatencyToxic",
    "HttpTrafficCollector",
    "HttpTrafficStats",
    "MessageMatch",
    "http_traffic_stats",
]
