"""The order-service's resilience toolkit for ``--resilience on``: small and self-contained.

Three pieces, written here rather than taken from a library because each is a few dozen
lines and the demo's point is to show them plainly:

- :class:`CircuitBreaker`: per dependency; opens after consecutive failures, lets one probe
  through after a short cool-down (half-open), closes on success.
- :func:`call`: one call with a per-attempt timeout, bounded retries with *full-jitter*
  exponential backoff (delay uniform in ``[0, min(cap, base * 2**attempt)]``), guarded by
  the breaker.
- :class:`Backlog`: a bounded FIFO of work that could not be done now (queue publishes,
  DB writes, payment charges), drained by a background task when the dependency is back.

Exceptions::

    DependencyError          a dependency call failed for good (after retries, or refused)
    ├── BreakerOpen          the breaker is open: the call was not even attempted
    └── RetriesExhausted     every attempt failed; ``__cause__`` is the last failure
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = [
    "Backlog",
    "BreakerOpen",
    "BreakerState",
    "CircuitBreaker",
    "DependencyError",
    "RetriesExhausted",
    "RetryPolicy",
    "call",
]

T = TypeVar("T")


class DependencyError(Exception):
    """A dependency call failed for good (after retries, or refused by its breaker)."""

    def __init__(self, dependency: str, message: str) -> None:
        super().__init__(f"{dependency}: {message}")
        self.dependency = dependency


class BreakerOpen(DependencyError):
    """The dependency's circuit breaker is open: the call was not attempted."""


class RetriesExhausted(DependencyError):
    """Every attempt failed; the last failure is the ``__cause__``."""


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Consecutive-failure circuit breaker with a single half-open probe.

    ``failure_threshold`` 3: one slow call is noise, three in a row is a dependency in
    trouble. ``open_s`` 0.5 s: short, so that recovery after a fault is measured in
    sub-seconds, while a dead dependency still costs one probe per half second, not one
    timeout per request.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 3,
        open_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.open_s = open_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.open_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """May a call go through now? In half-open, only one probe at a time does."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probe_in_flight = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._probe_in_flight or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
        self._probe_in_flight = False


@dataclass(frozen=True)
class RetryPolicy:
    """Per-attempt timeout and bounded, jittered retries for one dependency."""

    timeout_s: float
    attempts: int = 3
    base_delay_s: float = 0.02
    max_delay_s: float = 0.2

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: spreads retries so that clients do not retry in lockstep."""
        return rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * 2**attempt))


async def call(
    operation: Callable[[], Awaitable[T]],
    *,
    breaker: CircuitBreaker,
    policy: RetryPolicy,
    rng: random.Random,
) -> T:
    """Run ``operation`` with timeout, retries and the breaker; raise :class:`DependencyError`."""
    last: BaseException | None = None
    for attempt in range(policy.attempts):
        if not breaker.allow():
            if last is None:
                raise BreakerOpen(breaker.name, "circuit open")
            break
        try:
            async with asyncio.timeout(policy.timeout_s):
                result = await operation()
        except Exception as exc:  # any failure of the dependency counts against it
            breaker.record_failure()
            last = exc
            if attempt + 1 < policy.attempts:
                await asyncio.sleep(policy.delay_s(attempt, rng))
            continue
        breaker.record_success()
        return result
    raise RetriesExhausted(breaker.name, f"failed: {last!r}") from last


class Backlog(Generic[T]):
    """A bounded FIFO of deferred work, drained in order by :meth:`drain`.

    Bounded (``max_items``) because an unbounded buffer turns an outage into an
    out-of-memory kill: when full, :meth:`put` refuses and the caller fails the request.
    """

    def __init__(self, name: str, max_items: int) -> None:
        self.name = name
        self.max_items = max_items
        self._items: deque[T] = deque()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        return len(self._items) >= self.max_items

    def items(self) -> tuple[T, ...]:
        return tuple(self._items)

    def put(self, item: T) -> bool:
        """Queue ``item``; False when the backlog is full."""
        if self.full:
            return False
        self._items.append(item)
        return True

    async def drain(self, send: Callable[[T], Awaitable[None]], *, max_items: int = 100) -> int:
        """Send items in order until one fails (it stays at the head); return how many went."""
        sent = 0
        while self._items and sent < max_items:
            item = self._items[0]
            try:
                await send(item)
            except Exception:
                return sent
            self._items.popleft()
            sent += 1
        return sent
