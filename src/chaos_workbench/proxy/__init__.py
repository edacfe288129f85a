"""The fault proxy: a Toxiproxy-compatible TCP proxy with toxics on live connections.

Public surface for the rest of the workbench (the REST API, CLI and faults build on it):
:class:`ProxyManager` holds every proxy and toxic; the models are Toxiproxy's JSON shapes;
``errors`` is Toxiproxy's API error table; ``toxics.base`` is how to write a toxic.
"""

from __future__ import annotations

from chaos_workbench.proxy.errors import ApiError
from chaos_workbench.proxy.manager import ProxyManager
from chaos_workbench.proxy.models import (
    ProxyInfo,
    ProxySpec,
    ProxyStats,
    Stream,
    ToxicActionCount,
    ToxicInfo,
    ToxicSpec,
    ToxicUpdate,
)

__all__ = [
    "ApiError",
    "ProxyInfo",
    "ProxyManager",
    "ProxySpec",
    "ProxyStats",
    "Stream",
    "ToxicActionCount",
    "ToxicInfo",
    "ToxicSpec",
    "ToxicUpdate",
]
