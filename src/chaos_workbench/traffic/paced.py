"""Open-loop pacing shared by the HTTP load driver and the protocol probe driver.

:class:`PacedDriver` is the part of :class:`~chaos_workbench.traffic.driver.LoadDriver` and
:class:`~chaos_workbench.probes.base.ProbeDriver` that does not depend on what is sent: the
run's lifecycle (``async with``, ``start``/``stop``/``wait``/``aclose``), the plan of
intended send times (:func:`.schedule.intended_offsets_ns` over a :class:`.RateProfile`),
the timer that dispatches every send whose time has come, the 20 Hz sweep that expires
overdue work and lets the :class:`.WindowRecorder` emit final windows, ``windows()`` and
``stats``. It lives once here so both drivers pace, time out and emit windows identically.

A subclass supplies only what differs: ``_dispatch`` (send one request or probe, which must
call ``recorder.dispatched`` for a first attempt), ``_expire`` (fail what is overdue),
``_maybe_finished`` (end the run once stopping and idle), ``_abandon`` (record what is still
outstanding when the run is cut short) and ``_shut_down`` (release tasks and clients).

The timer's loop is the load driver's hot path: it keeps ``_dispatch`` and the request
picker in locals, so each send costs no more lookups than a hand-written loop would.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from abc import abstractmethod
from collections.abc import AsyncIterator, Callable

from chaos_workbench.aio import AsyncResource
from chaos_workbench.traffic.recorder import WindowRecorder
from chaos_workbench.traffic.schedule import RateProfile, intended_offsets_ns
from chaos_workbench.traffic.stats import DriverStats
from chaos_workbench.traffic.window import Window

__all__ = ["PacedDriver"]

_SWEEP_S = 0.05  # timeouts, window emission and (load driver) pool trimming run at 20 Hz


class PacedDriver(AsyncResource):
    """Sends at planned times and measures into windows; subclasses say how one send goes."""

    keep_requests: bool = False
    """Set before the run starts: final windows then carry each request's outcome."""

    def __init__(
        self,
        profile: RateProfile,
        arrival: str,
        rng: random.Random,
        *,
        pick: Callable[[], int],
        window_ns: int,
        timeout_ns: int,
        duration_s: float | None,
        closed_loop: bool = False,
    ) -> None:
        self._profile = profile
        self._offsets = intended_offsets_ns(profile, arrival, rng)
        self._pick = pick  # the index passed to each ``_dispatch`` from the plan
        self._window_ns = window_ns
        self._timeout_ns = timeout_ns
        self._duration_s = duration_s
        self._closed_loop = closed_loop
        self._tasks: set[asyncio.Task[None]] = set()
        self._sent = 0
        self._start_ns = 0
        self._end_ns: int | None = None
        self._next_ns: int | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._stopping = False
        self._finished = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.recorder: WindowRecorder | None = None

    # -- what each driver supplies ---------------------------------------------------------
    @abstractmethod
    def _dispatch(self, intended_ns: int, now: int, index: int, retried: bool) -> None:
        """Send one (``index`` from ``pick``); a first attempt reports ``recorder.dispatched``."""

    @abstractmethod
    def _expire(self, now: int) -> None:
        """Sweep: fail whatever is past its deadline at ``now``."""

    @abstractmethod
    def _maybe_finished(self) -> None:
        """End the run (``_finish``) if it is stopping and nothing is in flight."""

    @abstractmethod
    def _abandon(self) -> None:
        """The run ends now: record everything still outstanding as failed."""

    @abstractmethod
    async def _shut_down(self) -> None:
        """After the drain (or its timeout or cancellation): ``_finish`` and release all."""

    # -- lifecycle -------------------------------------------------------------------------
    async def _on_enter(self) -> None:
        self.start()

    def start(self) -> None:
        """Begin sending (the run's clock starts now)."""
        if self._loop is not None:
            raise RuntimeError(f"a {type(self).__name__} runs once")
        self._loop = asyncio.get_running_loop()
        self._start_ns = time.monotonic_ns()
        self.recorder = WindowRecorder(
            self._start_ns, self._window_ns, keep_requests=self.keep_requests
        )
        if self._duration_s is not None:
            self._end_ns = self._start_ns + int(self._duration_s * 1e9)
        self._begin()
        self._sweeper = self._loop.call_later(_SWEEP_S, self._sweep)

    def _begin(self) -> None:
        """The first sends: open loop follows the plan (the closed-loop driver overrides)."""
        self._next_ns = self._advance_plan()
        self._tick()

    def stop(self) -> None:
        """Send nothing more; what is in flight finishes (or times out), then windows end."""
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
        """True once the plan has ended or ``stop()`` was called (nothing new goes out)."""
        return self._stopping

    async def wait(self) -> None:
        """Until the run has ended and its last window has been emitted."""
        await self._finished.wait()

    async def aclose(self) -> None:
        """Stop, wait for what is in flight (bounded by the timeout), then release it all."""
        if self._loop is None:
            return
        self.stop()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished.wait(), self._timeout_ns / 1e9 + 1.0)
        finally:  # also when cancelled while draining: no task or client outlives us
            await self._shut_down()

    async def _cancel_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def windows(self) -> AsyncIterator[Window]:
        """Each window once final, in order; ends after the run's last window."""
        if self.recorder is None:
            raise RuntimeError(f"start the driver first (async with {type(self).__name__}(...))")
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
        return DriverStats(
            total=recorder.total,
            elapsed_s=recorder.total.duration_ns / 1e9,
            sent=self._sent,
            target_rate_per_s=None if self._closed_loop else self._profile.peak_rate_per_s,
            connections_opened=0,
            connections_open=0,
            behind_schedule_windows=recorder.behind_windows,
            windows=recorder.emitted,
        )

    # -- the plan --------------------------------------------------------------------------
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
        dispatch = self._dispatch
        pick = self._pick
        while next_ns is not None and next_ns <= now:
            dispatch(next_ns, now, pick(), False)
            next_ns = self._advance_plan()
        self._next_ns = next_ns
        if next_ns is None:
            self._stopping = True  # the plan ran out (its end, or the profile's)
            return
        assert self._loop is not None
        self._timer = self._loop.call_later((next_ns - now) / 1e9, self._tick)

    def _frontier_ns(self) -> int:
        """Everything intended before this time has been dispatched."""
        now = time.monotonic_ns()
        if self._stopping:  # the plan is over: windows up to its end are complete
            return now if self._end_ns is None else max(now, self._end_ns)
        if self._closed_loop or self._next_ns is None:
            return now
        return min(now, self._next_ns)

    # -- housekeeping ----------------------------------------------------------------------
    def _sweep(self) -> None:
        assert self._loop is not None
        assert self.recorder is not None
        self._expire(time.monotonic_ns())
        self.recorder.advance(self._frontier_ns())
        if self._stopping:
            self._maybe_finished()
        if not self._finished.is_set():
            self._sweeper = self._loop.call_later(_SWEEP_S, self._sweep)

    def _finish(self) -> None:
        if self._finished.is_set():
            return
        assert self.recorder is not None
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._abandon()
        self.recorder.advance(self._frontier_ns())
        self.recorder.close()
        self._finished.set()
