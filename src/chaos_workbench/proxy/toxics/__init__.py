"""The built-in toxics: Toxiproxy's set (same names, attributes and semantics) plus ours.

Importing this package registers every built-in toxic type with ``toxics.base.register``.
"""

from __future__ import annotations

from chaos_workbench.proxy.toxics import (
    bandwidth,
    corrupt,
    latency,
    limit_data,
    limit_time,
    noop,
    reset_peer,
    slicer,
    slow_close,
    timeout,
)
from chaos_workbench.proxy.toxics.base import (
    Connection,
    Pipe,
    PipeContext,
    Stage,
    Stream,
    TimerHandle,
    Toxic,
    ToxicAttributes,
    all_types,
    get_type,
    register,
)

__all__ = [
    "Connection",
    "Pipe",
    "PipeContext",
    "Stage",
    "Stream",
    "TimerHandle",
    "Toxic",
    "ToxicAttributes",
    "all_types",
    "bandwidth",
    "corrupt",
    "get_type",
    "latency",
    "limit_data",
    "limit_time",
    "noop",
    "register",
    "reset_peer",
    "slicer",
    "slow_close",
    "timeout",
]
