"""The load driver: HTTP traffic at a planned rate, measured into final windows.

``LoadDriver`` sends requests when the plan (:mod:`.schedule`) says, over a pool of
keep-alive connections (:mod:`.http`), and records each outcome under its *intended* send
time (:mod:`.recorder`). Its windows come out in order, each once it is final. This
module holds the plan, the clock, the sweep and the lifecycle; the pool itself (dispatch,
connection outcomes, its bound) is the base class in :mod:`._pool`.

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

import asyncio
import contextlib
import math
import random
import time
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import TYPE_CHECKING

from chaos_workbench.traffic._pool import DriverPool, max_connections
from chaos_workbench.traffic.http import ssl_context
from chaos_workbench.traffic.recorder import WindowRecorder
from chaos_workbench.traffic.requests import RequestMix, Target
from chaos_workbench.traffic.schedule import RateProfile, intended_offsets_ns
from chaos_workbench.traffic.stats import DriverStats, RequestRecord
from chaos_workbench.traffic.window import ErrorKind, Window

if TYPE_CHECKING:  # the schema imports traffic.spec: a runtime import would be a cycle
    from chaos_workbench.experiments.schema import TrafficSpec

__all__ = ["DriverStats", "LoadDriver", "RequestRecord"]

_SWEEP_S = 0.05  # timeouts, window emission and pool trimming run at 20 Hz
_TRIM_EVERY_S = 1.0


class LoadDriver(DriverPool):
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
        self._window_ns = int(window_ms * 1_000_000)
        self._timeout_ns = int(spec.timeout_ms * 1_000_000)
        self._connect_timeout_s = spec.connect_timeout_ms / 1000
        self._closed_loop = spec.mode == "closed"
        if spec.stages:
            self._profile = RateProfile.stages(
                spec.rate_per_s, [(s.duration_s, s.rate_per_s) for s in spec.stages]
            )
        else:
            self._profile = RateProfile.constant(spec.rate_per_s, duration_s)
        self._duration_s = self._profile.duration_s if not self._closed_loop else duration_s
        super().__init__(max_connections(spec, self._profile.peak_rate_per_s))
        self._ssl = ssl_context(self.target, verify=spec.verify_tls, ca_file=spec.ca_file)
        self._on_request = on_request
        self._start_ns = 0
        self._end_ns: int | None = None
        self._next_ns: int | None = None
        self._offsets = intended_offsets_ns(self._profile, spec.arrival, rng)
        self._timer: asyncio.TimerHandle | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._last_trim_ns = 0
        self._stopping = False
        self._finished = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.recorder: WindowRecorder | None = None

    # -- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> LoadDriver:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def start(self) -> None:
        """Begin sending (the run's clock starts now)."""
        if self._loop is not None:
            raise RuntimeError("a LoadDriver runs once")
        self._loop = asyncio.get_running_loop()
        self._start_ns = time.monotonic_ns()
        self._last_trim_ns = self._start_ns
        self.recorder = WindowRecorder(self._start_ns, self._window_ns)
        if self._duration_s is not None:
            self._end_ns = self._start_ns + int(self._duration_s * 1e9)
        if self._closed_loop:
            for _ in range(self._max_conns):
                self._dispatch(self._start_ns, self._start_ns, self._mix.pick(), False)
        else:
            self._next_ns = self._advance_plan()
            self._tick()
        self._sweeper = self._loop.call_later(_SWEEP_S, self._sweep)

    def stop(self) -> None:
        """Send nothing more; requests in flight finish (or time out), then windows end."""
        if not self._stopping:
            now = time.monotonic_ns()
            self._end_ns = now if self._end_ns is None else min(self._end_ns, now)
        self._stopping = True
        self._next_ns = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def stopping(self) -> bool:
        """True once the plan has ended or ``stop()`` was called (no new requests go out)."""
        return self._stopping

    async def wait(self) -> None:
        """Until the run has ended and its last window has been emitted."""
        await self._finished.wait()

    async def aclose(self) -> None:
        """Stop, wait for requests in flight (bounded by the timeout), close connections."""
        if self._loop is None:
            return
        self.stop()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished.wait(), self._timeout_ns / 1e9 + 1.0)
        finally:  # also when cancelled while draining: no connection or task outlives us
            self._finish()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def windows(self) -> AsyncIterator[Window]:
        """Each window once final, in order; ends after the run's last window."""
        if self.recorder is None:
            raise RuntimeError("start the driver first (async with LoadDriver(...))")
        while True:
            window = await self.recorder.queue.get()
            if window is None:
                return
            yield window

    @property
    def stats(self) -> DriverStats:
        """Totals over every window emitted so far."""
        recorder = self.recorder
        if recorder is None:
            raise RuntimeError("the driver has not started")
        elapsed_ns = recorder.total.duration_ns  # while running: the windows emitted so far
        if self._finished.is_set() and self._end_ns is not None:
            elapsed_ns = self._end_ns - self._start_ns  # the run's real length, not its windows'
        return DriverStats(
            total=recorder.total,
            elapsed_s=elapsed_ns / 1e9,
            sent=self._sent,
            send_span_s=(self._last_send_ns - self._start_ns) / 1e9 if self._sent else 0.0,
            target_rate_per_s=None if self._closed_loop else self._profile.peak_rate_per_s,
            connections_opened=self._opened,
            connections_open=len(self._idle) + len(self._busy) + self._connecting,
            behind_schedule_windows=recorder.behind_windows,
            windows=recorder.emitted,
        )

    # -- the plan ------------------------------------------------------------------------
    def _advance_plan(self) -> int | None:
        offset = next(self._offsets, None)
        if offset is None or self._stopping:
            return None
        at = self._start_ns + offset
        if self._end_ns is not None and at >= self._end_ns:
            return None
        return at

    def _tick(self) -> None:
        self._timer = None
        now = time.monotonic_ns()
        next_ns = self._next_ns
        pick = self._mix.pick
        while next_ns is not None and next_ns <= now:
            self._dispatch(next_ns, now, pick(), False)
            next_ns = self._advance_plan()
        self._next_ns = next_ns
        if next_ns is None:
            self._stopping = True  # the plan ran out (its end, or the profile's)
            return
        assert self._loop is not None
        self._timer = self._loop.call_later((next_ns - now) / 1e9, self._tick)

    def _frontier_ns(self) -> int:
        """Every request intended before this time has been dispatched."""
        now = time.monotonic_ns()
        if self._stopping:  # the plan is over: windows up to its end are complete
            return now if self._end_ns is None else max(now, self._end_ns)
        if self._closed_loop or self._next_ns is None:
            return now
        return min(now, self._next_ns)

    # -- housekeeping --------------------------------------------------------------------
    def _sweep(self) -> None:
        assert self._loop is not None
        assert self.recorder is not None
        now = time.monotonic_ns()
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
        self.recorder.advance(self._frontier_ns())
        if self._stopping:
            self._maybe_finished()
        if not self._finished.is_set():
            self._sweeper = self._loop.call_later(_SWEEP_S, self._sweep)

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

    def _finish(self) -> None:
        if self._finished.is_set():
            return
        assert self.recorder is not None
        if self._sweeper is not None:
            self._sweeper.cancel()
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
        self.recorder.advance(self._frontier_ns())
        self.recorder.close()
        self._finished.set()
