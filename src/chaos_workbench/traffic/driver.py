"""The load driver: HTTP traffic at a planned rate, measured into final windows.

``LoadDriver`` sends requests when the plan (:mod:`.schedule`) says, over a pool of
keep-alive connections (:mod:`.http`), and records each outcome under its *intended* send
time (:mod:`.recorder`). Its windows come out in order, each once it is final. This
module holds what is specific to HTTP: the request mix, closed loop, the connection
deadlines and pool trimming the sweep applies. The pool itself (dispatch, connection
outcomes, its bound) is the base class in :mod:`._pool`; the plan, the timer, the sweep,
the windows and the lifecycle, shared with the protocol probes, are in :mod:`.paced`.

Open loop (default): a timer dispatches every request whose intended time has come. A
request takes an idle connection, or opens a new one while the pool is below its bound,
or waits in a queue (its latency still counts from its intended time). The pool therefore
grows to what the load needs, ``rate × latency`` by Little's law, and idle connections
beyond 1.25 × the recent peak are closed. The bound is ``connections`` when given, else
``rate × timeout`` capped at 1024 (enough never to queue until every request times out).

Closed loop (``mode: closed``): ``users`` connections each send the next request as soon
as the previous one finished. Latency then counts from the actual send, which hides stalls
(coordinated omission); it exists to compare with, and to measure peak throughput like wrk.

Every request has a deadline of intended time + ``timeout_ms``; a sweep every 50 ms fails
the overdue ones (``READ_TIMEOUT``), so every window becomes final within ``timeout`` of
its end. Calibration: a request dispatched more than 10 ms late means the event loop could
not keep up; windows with many such requests say ``behind_schedule`` and ``stats`` counts
them, so a run record can flag its measurements as unreliable.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable

from chaos_workbench.traffic._pool import DriverPool, max_connections
from chaos_workbench.traffic.http import ssl_context
from chaos_workbench.traffic.paced import PacedDriver
from chaos_workbench.traffic.requests import RequestMix, Target
from chaos_workbench.traffic.schedule import RateProfile
from chaos_workbench.traffic.spec import TrafficSpec
from chaos_workbench.traffic.stats import DriverStats, RequestRecord
from chaos_workbench.traffic.window import ErrorKind

__all__ = ["DriverStats", "LoadDriver", "RequestRecord"]

_TRIM_EVERY_S = 1.0


class LoadDriver(DriverPool, PacedDriver):
    """``async with LoadDriver(spec, rng=rng) as d: async for w in d.windows(): ...``

    Runs until ``duration_s`` (or the end of ``spec.stages``), or until ``stop()`` or the
    end of the ``async with`` block; then waits for requests in flight (at most
    ``timeout_ms``), emits the last windows and closes every connection.
    """

    def __init__(
        self,
        spec: TrafficSpec,
        *,
        window_ms: int = 250,
        rng: random.Random,
        duration_s: float | None = None,
        on_request: Callable[[RequestRecord], None] | None = None,
    ) -> None:
        self.spec = spec
        self.target = Target.parse(spec.url)
        self._rng = rng
        self._mix = RequestMix(self.target, spec.requests, rng)
        self._heads = tuple(r.is_head for r in self._mix.requests)
        self._connect_timeout_s = spec.connect_timeout_ms / 1000
        closed_loop = spec.mode == "closed"
        if spec.stages:
            profile = RateProfile.stages(
                spec.rate_per_s, [(s.duration_s, s.rate_per_s) for s in spec.stages]
            )
        else:
            profile = RateProfile.constant(spec.rate_per_s, duration_s)
        PacedDriver.__init__(
            self,
            profile,
            spec.arrival,
            rng,
            pick=self._mix.pick,
            window_ns=int(window_ms * 1_000_000),
            timeout_ns=int(spec.timeout_ms * 1_000_000),
            duration_s=profile.duration_s if not closed_loop else duration_s,
            closed_loop=closed_loop,
        )
        DriverPool.__init__(self, max_connections(spec, profile.peak_rate_per_s))
        self._ssl = ssl_context(self.target, verify=spec.verify_tls, ca_file=spec.ca_file)
        self._on_request = on_request
        self._last_trim_ns = 0

    @property
    def stats(self) -> DriverStats:
        """Totals over every window emitted so far, with the pool's connection counts."""
        stats = super().stats
        elapsed_s = stats.elapsed_s  # while running: the windows emitted so far
        if self._finished.is_set() and self._end_ns is not None:
            elapsed_s = (self._end_ns - self._start_ns) / 1e9  # the run's real length
        return dataclasses.replace(
            stats,
            elapsed_s=elapsed_s,
            send_span_s=(self._last_send_ns - self._start_ns) / 1e9 if self._sent else 0.0,
            connections_opened=self._opened,
            connections_open=len(self._idle) + len(self._busy) + self._connecting,
        )

    # -- the pacing hooks ----------------------------------------------------------------
    def _begin(self) -> None:
        self._last_trim_ns = self._start_ns
        if self._closed_loop:
            for _ in range(self._max_conns):
                self._dispatch(self._start_ns, self._start_ns, self._mix.pick(), False)
        else:
            super()._begin()

    def _expire(self, now: int) -> None:
        if self._closed_loop and not self._stopping and self._end_ns and now >= self._end_ns:
            self.stop()
        for conn in [c for c in self._busy if c.deadline_ns <= now]:
            self._busy.discard(conn)
            conn.abort()
            self._record(conn.intended_ns, conn.sent_ns, None, conn.nbytes, ErrorKind.READ_TIMEOUT)
            self._after_connection_gone()
        while self._pending and self._pending[0][0] + self._timeout_ns <= now:
            intended_ns, _, _ = self._pending.popleft()
            kind = ErrorKind.READ_TIMEOUT if self._busy else ErrorKind.CONNECT_TIMEOUT
            self._record(intended_ns, 0, None, 0, kind)
        if now - self._last_trim_ns >= _TRIM_EVERY_S * 1e9:
            self._trim(now)

    def _trim(self, now: int) -> None:
        """Close idle connections beyond 1.25 × the busiest moment of the last second."""
        self._last_trim_ns = now
        keep = math.ceil(self._busy_peak * 1.25) + 2
        self._busy_peak = len(self._busy)
        surplus = len(self._idle) + len(self._busy) - keep
        while surplus > 0 and self._idle:
            self._idle.pop(0).close()  # the bottom of the LIFO stack: the longest idle
            surplus -= 1

    def _maybe_finished(self) -> None:
        if self._finished.is_set() or not self._stopping:
            return
        if self._busy or self._pending or self._connecting:
            return
        self._finish()

    def _abandon(self) -> None:
        for conn in list(self._busy):  # only after the drain timed out
            conn.abort()
            self._record(conn.intended_ns, conn.sent_ns, None, conn.nbytes, ErrorKind.READ_TIMEOUT)
        self._busy.clear()
        while self._pending:
            intended_ns, _, _ = self._pending.popleft()
            self._record(intended_ns, 0, None, 0, ErrorKind.CONNECT_TIMEOUT)
        for conn in self._idle:
            conn.close()
        self._idle.clear()

    async def _shut_down(self) -> None:
        self._finish()  # no connection outlives the run
        await self._cancel_tasks()
