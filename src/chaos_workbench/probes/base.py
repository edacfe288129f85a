"""Open-loop pacing for protocol probes: the HTTP driver's plan and windows, any client.

A ``Prober`` wraps one real client library and performs one operation per call. The
``ProbeDriver`` calls it at the planned times (constant or Poisson, from the run's seeded
RNG), each call a task with a deadline of intended time + ``timeout_ms``, and records the
outcome under the intended time, so a stalled database shows its stall exactly as a stalled
HTTP service does. At most ``max_in_flight`` calls run at once; later ones wait their turn
(their latency still counts from their intended time).

Errors never escape a probe: each is classified into an ``ErrorKind`` by the prober
(``classify``), with the generic rules of :func:`classify_os_error` underneath.

The pacing itself (plan, timer, sweep, windows, lifecycle) is the load driver's, shared
through :class:`chaos_workbench.traffic.paced.PacedDriver`; this module holds only how one
probe runs, waits its turn and is classified.
"""

from __future__ import annotations

import abc
import asyncio
import random
import time
from collections import deque

from chaos_workbench.traffic.paced import PacedDriver
from chaos_workbench.traffic.schedule import RateProfile
from chaos_workbench.traffic.window import ErrorKind

__all__ = ["ProbeDriver", "Prober", "classify_os_error"]


def _no_index() -> int:
    return 0  # a prober has one operation: nothing to pick


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


class ProbeDriver(PacedDriver):
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
        super().__init__(
            RateProfile.constant(rate_per_s, duration_s),
            arrival,
            rng,
            pick=_no_index,
            window_ns=int(window_ms * 1e6),
            timeout_ns=int(timeout_ms * 1e6),
            duration_s=duration_s,
        )
        self._max_in_flight = max_in_flight
        self._in_flight = 0
        self._waiting: deque[int] = deque()

    # -- one probe -----------------------------------------------------------------------
    def _dispatch(self, intended_ns: int, now: int, index: int, retried: bool) -> None:
        assert self.recorder is not None
        self.recorder.dispatched(intended_ns, now - intended_ns)
        self._launch(intended_ns)

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

    # -- the pacing hooks ----------------------------------------------------------------
    def _expire(self, now: int) -> None:
        while self._waiting and self._waiting[0] + self._timeout_ns <= now:
            self._record(self._waiting.popleft(), ErrorKind.READ_TIMEOUT)

    def _maybe_finished(self) -> None:
        if self._stopping and not self._in_flight and not self._waiting:
            self._finish()

    def _abandon(self) -> None:
        while self._waiting:
            self._record(self._waiting.popleft(), ErrorKind.READ_TIMEOUT)

    async def _shut_down(self) -> None:
        await self._cancel_tasks()  # cancelled probes record nothing: they never finished
        self._finish()
        await self.prober.aclose()
