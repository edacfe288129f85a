"""Samples: what traffic measured in one window of time.

The engine and the analysis see traffic only through windows: a fixed slice of time
(default 250 ms) with the number of requests whose *intended* send time fell in it, their
errors by kind, and an HdrHistogram of their latencies measured from that intended time
(so a stalled service cannot hide its stall: no coordinated omission).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
from hdrh.histogram import HdrHistogram

__all__ = [
    "LATENCY_MAX_US",
    "ErrorKind",
    "RequestOutcomes",
    "Window",
    "merge_windows",
    "new_histogram",
    "outcomes_of",
]

LATENCY_MAX_US = 3_600_000_000
"""Highest latency a histogram records: one hour, in microseconds."""

_SIGNIFICANT_FIGURES = 3  # 0.1 % value resolution: finer than any SLO anyone writes


def new_histogram() -> HdrHistogram:
    """An empty latency histogram in microseconds (1 µs .. 1 h, 3 significant figures)."""
    return HdrHistogram(1, LATENCY_MAX_US, _SIGNIFICANT_FIGURES)


class ErrorKind(enum.StrEnum):
    """Why a request failed."""

    CONNECT_REFUSED = "connect_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    READ_TIMEOUT = "read_timeout"
    RESET = "reset"
    PROTOCOL = "protocol"
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class RequestOutcomes:
    """Each request of a window, for analysis at the resolution of single requests.

    Three aligned arrays, in completion order: the intended send time (monotonic ns), the
    latency from it (µs) and whether the request succeeded. Kept only when the driver is
    asked to (``keep_requests``): 17 bytes a request.
    """

    intended_ns: np.ndarray  # int64
    latency_us: np.ndarray  # int64
    ok: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.intended_ns)


_NO_OUTCOMES = RequestOutcomes(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.bool_))


def outcomes_of(windows: Iterable[Window]) -> RequestOutcomes:
    """Every request of ``windows`` that kept its outcomes, sorted by intended send time."""
    parts = [w.outcomes for w in windows if w.outcomes is not None and len(w.outcomes)]
    if not parts:
        return _NO_OUTCOMES
    intended = np.concatenate([p.intended_ns for p in parts])
    order = np.argsort(intended, kind="stable")
    return RequestOutcomes(
        intended[order],
        np.concatenate([p.latency_us for p in parts])[order],
        np.concatenate([p.ok for p in parts])[order],
    )


@dataclass(frozen=True, slots=True)
class Window:
    """One window of measurements. ``start_ns`` is on the ``time.monotonic_ns()`` clock.

    ``requests`` counts requests that completed (successfully or not) and whose intended
    send time lies in ``[start_ns, start_ns + duration_ns)``; ``histogram`` holds the
    latencies (µs) of all of them, failures included, so a slow failure is still slow.
    """

    start_ns: int
    duration_ns: int
    requests: int
    successes: int
    errors: Mapping[ErrorKind, int] = field(default_factory=lambda: MappingProxyType({}))
    histogram: HdrHistogram = field(default_factory=new_histogram, compare=False)
    behind_schedule: bool = False  # the driver could not send at its target rate here
    bytes_received: int = 0  # response bytes (headers and body) read for these requests
    max_send_lag_ms: float = 0.0  # worst delay between intended and actual dispatch
    outcomes: RequestOutcomes | None = field(default=None, compare=False)  # see keep_requests
    missing_shares: tuple[int, ...] = ()  # distributed load: shares whose worker sent nothing

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.duration_ns

    @property
    def success_ratio(self) -> float | None:
        """Share of successes, or None for an empty window (nothing to judge)."""
        return self.successes / self.requests if self.requests else None

    def percentile_ms(self, percentile: float) -> float | None:
        """Latency at ``percentile`` (0–100) in milliseconds, or None when empty."""
        if self.histogram.get_total_count() == 0:
            return None
        return float(self.histogram.get_value_at_percentile(percentile)) / 1000.0


def merge_windows(windows: Iterable[Window]) -> Window:
    """One window covering all of ``windows`` (counts summed, histograms merged)."""
    items = list(windows)
    if not items:
        return Window(start_ns=0, duration_ns=0, requests=0, successes=0)
    histogram = new_histogram()
    errors: dict[ErrorKind, int] = {}
    for w in items:
        histogram.add(w.histogram)
        for kind, n in w.errors.items():
            errors[kind] = errors.get(kind, 0) + n
    start = min(w.start_ns for w in items)
    end = max(w.end_ns for w in items)
    return Window(
        start_ns=start,
        duration_ns=end - start,
        requests=sum(w.requests for w in items),
        successes=sum(w.successes for w in items),
        errors=MappingProxyType(errors),
        histogram=histogram,
        behind_schedule=any(w.behind_schedule for w in items),
        bytes_received=sum(w.bytes_received for w in items),
        max_send_lag_ms=max(w.max_send_lag_ms for w in items),
    )
