"""The order-service's breaker, retry and backlog: pure logic, driven by a hand-set clock."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from chaos_workbench.demo.resilience import (
    Backlog,
    BreakerOpen,
    BreakerState,
    CircuitBreaker,
    RetriesExhausted,
    RetryPolicy,
    call,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_consecutive_failures_and_probes_once() -> None:
    clock = Clock()
    breaker = CircuitBreaker("db", failure_threshold=3, open_s=0.5, clock=clock)
    breaker.record_failure()
    breaker.record_success()  # a success resets the count: failures must be consecutive
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()

    clock.now += 0.5
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()  # the one probe
    assert not breaker.allow()  # nobody else while it is in flight
    breaker.record_failure()  # the probe failed: open again for a full period
    assert breaker.state is BreakerState.OPEN
    clock.now += 0.49
    assert not breaker.allow()
    clock.now += 0.01
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    assert breaker.allow()


def test_backoff_is_full_jitter_and_capped() -> None:
    policy = RetryPolicy(timeout_s=1, attempts=5, base_delay_s=0.01, max_delay_s=0.05)
    rng = random.Random(1)
    for attempt, ceiling in [(0, 0.01), (1, 0.02), (2, 0.04), (3, 0.05), (10, 0.05)]:
        delays = [policy.delay_s(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # spread over the whole range, not a constant


async def test_call_retries_then_succeeds() -> None:
    attempts = 0

    async def flaky() -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise ConnectionError("refused")
        return "ok"

    breaker = CircuitBreaker("payments", failure_threshold=5)
    policy = RetryPolicy(timeout_s=1, attempts=3, base_delay_s=0.001, max_delay_s=0.002)
    assert await call(flaky, breaker=breaker, policy=policy, rng=random.Random(0)) == "ok"
    assert attempts == 3
    assert breaker.state is BreakerState.CLOSED


async def test_call_times_out_each_attempt_and_gives_up() -> None:
    async def hangs() -> None:
        await asyncio.sleep(10)

    breaker = CircuitBreaker("db", failure_threshold=10)
    policy = RetryPolicy(timeout_s=0.05, attempts=2, base_delay_s=0.001, max_delay_s=0.001)
    started = time.monotonic()
    with pytest.raises(RetriesExhausted) as caught:
        await call(hangs, breaker=breaker, policy=policy, rng=random.Random(0))
    elapsed = time.monotonic() - started
    assert 0.09 <= elapsed < 1.0  # two 50 ms timeouts; generous ceiling for a busy machine
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert caught.value.dependency == "db"


async def test_open_breaker_refuses_without_calling() -> None:
    calls = 0

    async def failing() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("down")

    breaker = CircuitBreaker("queue", failure_threshold=2, open_s=60)
    policy = RetryPolicy(timeout_s=1, attempts=5, base_delay_s=0.0, max_delay_s=0.0)
    with pytest.raises(RetriesExhausted):
        await call(failing, breaker=breaker, policy=policy, rng=random.Random(0))
    assert calls == 2  # the breaker opened after two failures and cut the retries short
    with pytest.raises(BreakerOpen):
        await call(failing, breaker=breaker, policy=policy, rng=random.Random(0))
    assert calls == 2


async def test_backlog_is_bounded_and_drains_in_order_until_a_failure() -> None:
    backlog: Backlog[int] = Backlog("outbox", max_items=3)
    assert backlog.put(1)
    assert backlog.put(2)
    assert backlog.put(3)
    assert backlog.full
    assert not backlog.put(4)  # full: the caller must fail the request instead
    sent: list[int] = []

    async def send(item: int) -> None:
        if item == 2 and 2 not in failed_once:
            failed_once.add(2)
            raise ConnectionError("db still down")
        sent.append(item)

    failed_once: set[int] = set()
    assert await backlog.drain(send) == 1
    assert sent == [1]
    assert backlog.items() == (2, 3)  # the failed item stays at the head
    assert await backlog.drain(send) == 2
    assert sent == [1, 2, 3]
    assert len(backlog) == 0
    assert not backlog.full
