"""Traffic: open-loop HTTP load measured into windows by intended send time.

``LoadDriver`` is the engine's (and ``cwb load``'s) load generator; see docs/traffic.md.
``traffic.spec`` holds the models of a suite's traffic section, ``traffic.paced`` the
open-loop pacing the protocol probes share.
"""

from __future__ import annotations

from chaos_workbench.traffic.driver import LoadDriver
from chaos_workbench.traffic.spec import StageSpec
from chaos_workbench.traffic.stats import DriverStats, RequestRecord
from chaos_workbench.traffic.summary import LoadSummary, summarize
from chaos_workbench.traffic.window import (
    LATENCY_MAX_US,
    ErrorKind,
    Window,
    merge_windows,
    new_histogram,
)

__all__ = [
    "LATENCY_MAX_US",
    "DriverStats",
    "ErrorKind",
    "LoadDriver",
    "LoadSummary",
    "RequestRecord",
    "StageSpec",
    "Window",
    "merge_windows",
    "new_histogram",
    "summarize",
]
