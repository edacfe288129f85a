"""Turning request outcomes into final windows, in order, with bounded memory.

Requests are bucketed by their *intended* send time. A window is final (and emitted) once
the send plan has moved past its end and every request it holds has completed or timed out,
so a consumer never sees a window whose numbers can still change.

With ``keep_requests`` each final window also carries its requests one by one
(:class:`.RequestOutcomes`: intended time, latency, success), for analysis finer than a
window — the engine's recovery instant (``analysis/recovery.py``). Off by default: it costs
an append per request and 17 bytes a request for as long as the window is kept.

Memory: only windows still in flight are held (a handful: at most ``timeout / window``
of them). Each keeps its latencies in a compact ``array('q')`` of microseconds while open,
then folds them into an HdrHistogram when it closes: recording one value at a time into the
pure-Python ``hdrh`` costs ~0.9 µs, which at 100k req/s is a tenth of a core, whereas the
batch (quantise to the histogram's own resolution with numpy, count unique values, record
each once) costs a few µs per distinct bucket. Closed windows hold only the histogram.
"""

from __future__ import annotations

import asyncio
from array import array
from types import MappingProxyType

import numpy as np
from hdrh.histogram import HdrHistogram

from chaos_workbench.traffic.window import (
    LATENCY_MAX_US,
    ErrorKind,
    RequestOutcomes,
    Window,
    merge_windows,
    new_histogram,
)

__all__ = ["LATE_SEND_NS", "WindowRecorder", "histogram_counts", "histogram_of_us"]

LATE_SEND_NS = 10_000_000
"""A dispatch more than 10 ms after its intended time is "late": several timer ticks of
uvloop's 1 ms clock, well above normal scheduling jitter, well below any SLO worth testing."""

_BEHIND_FRACTION = 0.05  # a window is behind schedule when > 5 % of its sends were late:
# one GC pause or a busy neighbour makes a few sends late; a saturated loop makes most late.

_SUB_BUCKET_BITS = 10  # hdrh with 3 significant figures: 2048 sub-buckets, half = 2**10


def histogram_of_us(values: array[int]) -> HdrHistogram:
    """An HdrHistogram of latencies in µs, recorded in one batch (see module docstring)."""
    histogram = new_histogram()
    if not values:
        return histogram
    a = np.clip(np.frombuffer(values, dtype=np.int64), 0, LATENCY_MAX_US)
    # Values in [2**k, 2**(k+1)) share buckets 2**(k-10) wide (k ≥ 11): clearing the low bits
    # maps each value onto its bucket's lowest value, so the counts are exactly hdrh's own.
    exponent = np.frexp(np.maximum(a, 1).astype(np.float64))[1] - 1
    shift = np.maximum(exponent - _SUB_BUCKET_BITS, 0)
    quantised = (a >> shift) << shift
    distinct, counts = np.unique(quantised, return_counts=True)
    for value, count in zip(distinct.tolist(), counts.tolist(), strict=True):
        histogram.record_value(value, count)
    return histogram


def histogram_counts(histogram: HdrHistogram) -> tuple[np.ndarray, np.ndarray]:
    """The recorded values (each bucket's lowest value, µs) and their counts, as arrays.

    Vectorised over hdrh's counts array: the library's own iterator walks it in Python, which
    is ~100× slower and matters when statistics read thousands of windows.
    """
    counts = np.frombuffer(histogram.counts, dtype=np.uint64)[: histogram.counts_len]
    index = np.nonzero(counts)[0].astype(np.int64)
    half_magnitude = histogram.sub_bucket_half_count_magnitude
    half = histogram.sub_bucket_half_count
    bucket = (index >> half_magnitude) - 1
    sub_bucket = (index & (half - 1)) + half
    first = bucket < 0  # the first bucket's lower half: values below ``half``
    sub_bucket[first] -= half
    bucket[first] = 0
    values = sub_bucket << (bucket + histogram.unit_magnitude)
    return values, counts[index].astype(np.int64)


class _Open:
    """Counters of one window still in flight."""

    __slots__ = (
        "bytes",
        "completed",
        "dispatched",
        "errors",
        "intended",
        "late",
        "latencies_us",
        "max_lag",
        "ok",
    )

    def __init__(self) -> None:
        self.dispatched = 0
        self.completed = 0
        self.late = 0
        self.max_lag = 0
        self.bytes = 0
        self.errors: dict[ErrorKind, int] = {}
        self.latencies_us: array[int] = array("q")
        self.intended: array[int] = array("q")  # with keep_requests: aligned with latencies
        self.ok = bytearray()


def _outcomes(slot: _Open) -> RequestOutcomes:
    return RequestOutcomes(
        np.frombuffer(slot.intended, dtype=np.int64),
        np.frombuffer(slot.latencies_us, dtype=np.int64),
        np.frombuffer(bytes(slot.ok), dtype=np.bool_),
    )


class WindowRecorder:
    """Buckets outcomes into windows and queues each window once it is final."""

    def __init__(self, start_ns: int, window_ns: int, *, keep_requests: bool = False) -> None:
        if window_ns <= 0:
            raise ValueError("window length must be positive")
        self.keep_requests = keep_requests
        self.start_ns = start_ns
        self.window_ns = window_ns
        self._open: dict[int, _Open] = {}
        self._last_index = -1
        self._last_slot = _Open()
        self._next_emit = 0
        self._frontier_ns = start_ns  # every intended time before this has been dispatched
        self._closed = False
        self.queue: asyncio.Queue[Window | None] = asyncio.Queue()
        self.total: Window = Window(start_ns=start_ns, duration_ns=0, requests=0, successes=0)
        self.behind_windows = 0
        self.emitted = 0

    def _slot(self, intended_ns: int) -> _Open:
        index = (intended_ns - self.start_ns) // self.window_ns
        if index == self._last_index:  # the common case: the same window as the last call
            return self._last_slot
        slot = self._open.get(index)
        if slot is None:
            slot = self._open[index] = _Open()
        self._last_index, self._last_slot = index, slot
        return slot

    def dispatched(self, intended_ns: int, lag_ns: int) -> None:
        """A request left the plan ``lag_ns`` after its intended time."""
        slot = self._slot(intended_ns)
        slot.dispatched += 1
        if lag_ns > LATE_SEND_NS:
            slot.late += 1
        if lag_ns > slot.max_lag:
            slot.max_lag = lag_ns

    def completed(
        self, intended_ns: int, latency_us: int, error: ErrorKind | None, nbytes: int
    ) -> None:
        """A dispatched request finished: succeeded (``error`` None) or failed."""
        slot = self._slot(intended_ns)
        slot.completed += 1
        slot.bytes += nbytes
        slot.latencies_us.append(latency_us)
        if self.keep_requests:
            slot.intended.append(intended_ns)
            slot.ok.append(error is None)
        if error is not None:
            slot.errors[error] = slot.errors.get(error, 0) + 1

    def advance(self, frontier_ns: int) -> None:
        """The plan has dispatched everything intended before ``frontier_ns``; emit what is final."""
        if frontier_ns > self._frontier_ns:
            self._frontier_ns = frontier_ns
        self._emit_ready()

    def close(self) -> None:
        """No more requests: emit every remaining window (the caller waited for stragglers)."""
        if self._closed:
            return
        self._frontier_ns = max(
            self._frontier_ns,
            self.start_ns + (max(self._open, default=-1) + 1) * self.window_ns,
        )
        self._emit_ready(force=True)
        self._closed = True
        self.queue.put_nowait(None)

    def in_flight(self) -> int:
        return sum(s.dispatched - s.completed for s in self._open.values())

    def _emit_ready(self, force: bool = False) -> None:
        while True:
            start = self.start_ns + self._next_emit * self.window_ns
            if start + self.window_ns > self._frontier_ns:
                return
            slot = self._open.get(self._next_emit)
            if slot is not None and slot.completed < slot.dispatched and not force:
                return
            self._open.pop(self._next_emit, None)
            if self._last_index == self._next_emit:
                self._last_index = -1
            self._next_emit += 1
            self._emit(self._finish(start, slot))

    def _finish(self, start_ns: int, slot: _Open | None) -> Window:
        if slot is None:
            return Window(start_ns=start_ns, duration_ns=self.window_ns, requests=0, successes=0)
        failed = sum(slot.errors.values())
        behind = slot.dispatched > 0 and slot.late > _BEHIND_FRACTION * slot.dispatched
        return Window(
            start_ns=start_ns,
            duration_ns=self.window_ns,
            requests=slot.completed,
            successes=slot.completed - failed,
            errors=MappingProxyType(dict(slot.errors)),
            histogram=histogram_of_us(slot.latencies_us),
            behind_schedule=behind,
            bytes_received=slot.bytes,
            max_send_lag_ms=slot.max_lag / 1e6,
            outcomes=_outcomes(slot) if self.keep_requests else None,
        )

    def _emit(self, window: Window) -> None:
        self.emitted += 1
        if window.behind_schedule:
            self.behind_windows += 1
        self.total = merge_windows((self.total, window)) if self.emitted > 1 else window
        self.queue.put_nowait(window)
