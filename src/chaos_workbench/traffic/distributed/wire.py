"""What the coordinator and the workers of a distributed load run say to each other.

The coordinator sends each worker a :class:`SharePlan` (pickled with the task, so the
package must already be importable on the worker). Each worker answers through Dask's
structured events (``Worker.log_event`` → scheduler → the subscribed client): one
:class:`ShareStarted`, then a :class:`ShareWindow` per window as it closes, then
:class:`ShareDone` (or :class:`ShareFailed`). Events must be msgpack-serialisable, so each
message travels as ``model_dump()`` and is read back with :data:`MESSAGE` — validated like
any other input, because a worker may run another version of the package.

A window's latencies travel as the HdrHistogram's own compressed encoding (``encode`` /
``decode`` of the ``hdrhistogram`` package), so merging them is exact. Request outcomes
(for the engine's request-by-request recovery analysis) travel as raw little-endian arrays,
intended times counted from the share's start so they can be mapped onto any clock.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Annotated, Literal

import numpy as np
from hdrh.histogram import HdrHistogram
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from chaos_workbench.traffic.spec import TrafficSpec
from chaos_workbench.traffic.window import ErrorKind, RequestOutcomes, Window

__all__ = [
    "MESSAGE",
    "ShareDone",
    "ShareFailed",
    "ShareMessage",
    "SharePlan",
    "ShareStarted",
    "ShareWindow",
    "decode_window",
    "encode_window",
]


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SharePlan(_Wire):
    """One worker's part of the run: its share of the plan and the common start instant."""

    topic: str  # the Dask event topic this run's messages go to
    share: int = Field(ge=0)
    shares: int = Field(ge=1)
    spec: TrafficSpec
    start_unix_ns: int  # wall clock: each worker maps it onto its own monotonic clock
    window_ms: int = Field(gt=0)
    duration_s: float | None = Field(default=None, gt=0)
    seed: int
    keep_requests: bool = False
    late_start_limit_s: float = Field(default=1.0, gt=0)  # later than this: refuse to start


class ShareStarted(_Wire):
    """The share started sending; ``start_error_ms`` is how far after the instant it began."""

    kind: Literal["started"] = "started"
    share: int
    address: str  # the worker's (the scheduler adds its own ``worker`` key to each event)
    pid: int
    start_error_ms: float


class ShareWindow(_Wire):
    """Window ``index`` (counted from the common start) of one share, final."""

    kind: Literal["window"] = "window"
    share: int
    index: int = Field(ge=0)
    requests: int = Field(ge=0)
    successes: int = Field(ge=0)
    errors: dict[str, int]  # ErrorKind values: msgpack refuses str subclasses as keys
    histogram: bytes  # HdrHistogram.encode()
    behind_schedule: bool
    bytes_received: int = Field(ge=0)
    max_send_lag_ms: float = Field(ge=0)
    intended_offset_ns: bytes | None = None  # int64 array, from the share's start
    latency_us: bytes | None = None  # int64 array
    ok: bytes | None = None  # bool array


class ShareDone(_Wire):
    """The share ended normally; ``last_index`` is its last window (-1: none)."""

    kind: Literal["done"] = "done"
    share: int
    last_index: int
    sent: int = Field(ge=0)
    connections_opened: int = Field(ge=0)
    send_span_s: float = Field(ge=0)


class ShareFailed(_Wire):
    """The share could not run (or stopped on an error): its windows will not come."""

    kind: Literal["failed"] = "failed"
    share: int
    reason: str


ShareMessage = Annotated[
    ShareStarted | ShareWindow | ShareDone | ShareFailed, Field(discriminator="kind")
]
MESSAGE: TypeAdapter[ShareStarted | ShareWindow | ShareDone | ShareFailed] = TypeAdapter(
    ShareMessage
)
"""Reads a message back from the dict a worker published."""


def encode_window(share: int, index: int, window: Window, share_start_ns: int) -> ShareWindow:
    """A worker's final window as a message (outcomes relative to ``share_start_ns``)."""
    outcomes = window.outcomes
    return ShareWindow(
        share=share,
        index=index,
        requests=window.requests,
        successes=window.successes,
        errors={str(kind): n for kind, n in window.errors.items()},
        histogram=window.histogram.encode(),
        behind_schedule=window.behind_schedule,
        bytes_received=window.bytes_received,
        max_send_lag_ms=window.max_send_lag_ms,
        intended_offset_ns=None
        if outcomes is None
        else (outcomes.intended_ns.astype("<i8") - share_start_ns).tobytes(),
        latency_us=None if outcomes is None else outcomes.latency_us.astype("<i8").tobytes(),
        ok=None if outcomes is None else outcomes.ok.astype(np.bool_).tobytes(),
    )


def decode_window(message: ShareWindow, start_ns: int, window_ns: int) -> Window:
    """The window back, on the clock whose run started at ``start_ns`` (the coordinator's)."""
    outcomes = None
    if message.intended_offset_ns is not None:
        outcomes = RequestOutcomes(
            np.frombuffer(message.intended_offset_ns, dtype="<i8").astype(np.int64) + start_ns,
            np.frombuffer(message.latency_us or b"", dtype="<i8").astype(np.int64),
            np.frombuffer(message.ok or b"", dtype=np.bool_),
        )
    histogram: HdrHistogram = HdrHistogram.decode(message.histogram)
    return Window(
        start_ns=start_ns + message.index * window_ns,
        duration_ns=window_ns,
        requests=message.requests,
        successes=message.successes,
        errors=MappingProxyType({ErrorKind(kind): n for kind, n in message.errors.items()}),
        histogram=histogram,
        behind_schedule=message.behind_schedule,
        bytes_received=message.bytes_received,
        max_send_lag_ms=message.max_send_lag_ms,
        outcomes=outcomes,
    )
