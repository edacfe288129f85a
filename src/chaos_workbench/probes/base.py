"""Open-loop pacing for protocol probes: the HTTP driver's plan and windows, any client.

A ``Prober`` wraps one real client library and performs one operation per call. The
``ProbeDriver`` calls it at the planned times (constant or Poisson, from the run's seeded
RNG), each call a task with a deadline of intended time + ``timeout_ms``, and records the
outcome under the intended time, so a stalled database shows its stall exactly as a stalled
HTTP service does. At most ``max_in_flight`` calls run at once; later ones wait their turn
(their latency still counts from their intended time).

Errors never escape a probe: each is classified into an ``ErrorKind`` by the prober
(``classify``), with the generic rules of :func:`classify_os_error` underneath.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from types import TracebackType

from chaos_workbench.traffic.recorder import WindowRecorder
from chaos_workbench.traffic.schedule import RateProfile, intended_offsets_ns
from chaos_workbench.traffic.stats import DriverStats
from chaos_workbench.traffic.window import ErrorKind, Window

__all__ = ["ProbeDriver", "Prober", "classify_os_error"]

_SWEEP_S = 0.05


def classify_os_error(exc: BaseException) -> ErrorKind:
    """Socket-level failures, wherever a client library wraps them (``__cause__`` chain)."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 8:  # bounded: cause chains can loop
        if isinstance(current, ConnectionRefusedError):
            return ErrorKind.CONNECT_REFUSED
        if isinstance(current, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
            return ErrorKind.RESET
        if isinstance(current, TimeoutError):
            return ErrorKind.READ_TIMEOUT
        current = current.__cause__ or current.__context__
        seen += 1
    return ErrorKind.OTHER


class Prober(abc.ABC):
    """One client, one operation per ``call``. Implementations: one file per protocol."""

    @abc.abstractmethod
    async def call(self) -> None:
        """Perform the operation once; raise on failure (connect lazily, reconnect as needed)."""

    async def aclose(self) -> None:  # noqa: B027 - optional: not every client holds resources
        """Release connections."""

    def classify(self, exc: BaseException) -> ErrorKind:
        """The error kind of a failed call (override for library-specific exceptions)."""
        return classify_os_error(exc)


class ProbeDriver:
    """``async with ProbeDriver(prober, rate_per_s=…, rng=rng) as d: async for w in d.windows()``."""

    def __init__(
        self,
        prober: Prober,
        *,
        rate_per_s: float,
        rng: random.Random,
        arrival: str = "constant",
        timeout_ms: float = 1000.0,
        max_in_flight: int = 64,
        window_ms: int = 250,
        duration_s: float | None = None,
    ) -> None:
        self.prober = prober
        self._profile = RateProfile.constant(rate_per_s, duration_s)
        self._offsets = intended_offsets_ns(self._profile, arrival, rng)
        self._timeout_ns = int(timeout_ms * 1e6)
        self._max_in_flight = max_in_flight
        self._window_ns = int(window_ms * 1e6)
        self._duration_s = duration_s
        self._in_flight = 0
        self._waiting: deque[int] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._sent = 0
        self._start_ns = 0
        self._end_ns: int | None = None
        self._next_ns: int | None = None
        self._stopping = False
        self._finished = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.recorder: WindowRecorder | None = None

    async def __aenter__(self) -> ProbeDriver:
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
        if self._loop is not None:
            raise RuntimeError("a ProbeDriver runs once")
        self._loop = asyncio.get_running_loop()
        self._start_ns = time.monotonic_ns()
        self.recorder = WindowRecorder(self._start_ns, self._window_ns)
        if self._duration_s is not None:
            self._end_ns = self._start_ns + int(self._duration_s * 1e9)
        self._next_ns = self._advance()
        self._tick()
        self._sweeper = self._loop.call_later(_SWEEP_S, self._sweep)

    def stop(self) -> None:
        if not self._stopping:
            now = time.monotonic_ns()
            self._end_ns = now if self._end_ns is None else min(self._end_ns, now)
        self._stopping = True
        self._next_ns = None
        if self._timer is not None:
            self._timer.cancel()

    async def wait(self) -> None:
        await self._finished.wait()

    async def aclose(self) -> None:
        if self._loop is None:
            return
        self.stop()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._finished.wait(), self._timeout_ns / 1e9 + 1.0)
        finally:  # also when cancelled while draining: no task or client outlives us
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._finish()
            await self.prober.aclose()

    async def windows(self) -> AsyncIterator[Window]:
        if self.recorder is None:
            raise RuntimeError("start the driver first (async with ProbeDriver(...))")
        while True:
            window = await self.recorder.queue.get()
            if window is None:
                return
            yield window

    @property
    def stats(self) -> DriverStats:
        recorder = self.recorder
        if recorder is None:
            raise RuntimeError("the driver has not started")
        return DriverStats(
            total=recorder.total,
            elapsed_s=recorder.total.duration_ns / 1e9,
            sent=self._sent,
            target_rate_per_s=self._profile.peak_rate_per_s,
            connections_opened=0,
            connections_open=0,
            behind_schedule_windows=recorder.behind_windows,
            windows=recorder.emitted,
        )

    # -- pacing --------------------------------------------------------------------------
    def _advance(self) -> int | None:
        offset = next(self._offsets, None)
        if offset is None or self._stopping:
            return None
        at = self._start_ns + offset
        return None if self._end_ns is not None and at >= self._end_ns else at

    def _tick(self) -> None:
        assert self._loop is not None
        assert self.recorder is not None
        now = time.monotonic_ns()
        while self._next_ns is not None and self._next_ns <= now:
            self.recorder.dispatched(self._next_ns, now - self._next_ns)
            self._launch(self._next_ns)
            self._next_ns = self._advance()
        if self._next_ns is None:
            self._stopping = True
            return
        self._timer = self._loop.call_later((self._next_ns - now) / 1e9, self._tick)

    def _launch(self, intended_ns: int) -> None:
        assert self._loop is not None
        if self._in_flight >= self._max_in_flight:
            self._waiting.append(intended_ns)
            return
        self._in_flight += 1
        self._sent += 1
        task = self._loop.create_task(self._one(intended_ns))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _one(self, intended_ns: int) -> None:
        error: ErrorKind | None = None
        try:
            remaining_s = (intended_ns + self._timeout_ns - time.monotonic_ns()) / 1e9
            if remaining_s <= 0:
                raise TimeoutError
            await asyncio.wait_for(self.prober.call(), remaining_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure is a measurement, never a crash
            error = (
                ErrorKind.READ_TIMEOUT
                if isinstance(exc, TimeoutError)
                else self.prober.classify(exc)
            )
        finally:
            self._in_flight -= 1
        self._record(intended_ns, error)
        if self._waiting:
            self._launch(self._waiting.popleft())

    def _record(self, intended_ns: int, error: ErrorKind | None) -> None:
        if self._finished.is_set() or self.recorder is None:
            return
        latency_us = (time.monotonic_ns() - intended_ns) // 1000
        self.recorder.completed(intended_ns, latency_us, error, 0)

    def _sweep(self) -> None:
        assert self._loop is not None
        assert self.recorder is not None
        now = time.monotonic_ns()
        while self._waiting and self._waiting[0] + self._timeout_ns <= now:
            self._record(self._waiting.popleft(), ErrorKind.READ_TIMEOUT)
        frontier = now if self._next_ns is None else min(now, self._next_ns)
        if self._stopping and self._end_ns is not None:
            frontier = max(frontier, self._end_ns)
        self.recorder.advance(frontier)
        if self._stopping and not self._in_flight and not self._waiting:
            self._finish()
            return
        self._sweeper = self._loop.call_later(_SWEEP_S, self._sweep)

    def _finish(self) -> None:
        if self._finished.is_set() or self.recorder is None:
            return
        if self._sweeper is not None:
            self._sweeper.cancel()
        while self._waiting:
            self._record(self._waiting.popleft(), ErrorKind.READ_TIMEOUT)
        self.recorder.advance(time.monotonic_ns())
        self.recorder.close()
        self._finished.set()
