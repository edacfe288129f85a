"""HTTP/1.1-aware toxics: ``http_error``, ``http_latency``, ``http_abort``, ``http_header``.

Importing this package registers the four toxic types with the proxy's toxic registry, so
``add_toxic`` and the REST API accept them by ``type``. They act per HTTP message (not per
TCP chunk) and understand keep-alive, pipelining, chunked bodies, ``Expect:
100-continue``, HEAD and 1xx responses; traffic that is not HTTP/1.x passes through
untouched and is counted (:func:`http_traffic_stats`). See ``docs/http-toxics.md``.

Module map: ``_parsing`` (one head, parsed and checked by httptools), ``_framing``
(sans-IO message boundaries), ``_session`` (one connection's request/response bookkeeping),
``_toxic`` (how the toxics share a session inside the proxy's pipe chains), ``_match``
(method and path patterns), ``_header_values`` (checks on header names and values users
give), ``stats`` (passthrough counters), one file per toxic type (``abort``, ``error``,
``header``, ``latency``), each with its ``...Attributes`` model and its ``...Toxic``.
"""

from __future__ import annotations

from chaos_workbench.proxy.http._match import MessageMatch
from chaos_workbench.proxy.http.abort import HttpAbortAttributes, HttpAbortToxic
from chaos_workbench.proxy.http.error import HttpErrorAttributes, HttpErrorToxic
from chaos_workbench.proxy.http.header import HttpHeaderAttributes, HttpHeaderToxic
from chaos_workbench.proxy.http.latency import HttpLatencyAttributes, HttpLatencyToxic
from chaos_workbench.proxy.http.stats import (
    HttpTrafficCollector,
    HttpTrafficStats,
    http_traffic_stats,
)

__all__ = [
    "HttpAbortAttributes",
    "HttpAbortToxic",
    "HttpErrorAttributes",
    "HttpErrorToxic",
    "HttpHeaderAttributes",
    "HttpHeaderToxic",
    "HttpLatencyAttributes",
    "HttpLatencyToxic",
    "HttpTrafficCollector",
    "HttpTrafficStats",
    "MessageMatch",
    "http_traffic_stats",
]
