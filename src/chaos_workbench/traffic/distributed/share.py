"""One worker's share of a distributed load run: its slice of the plan, paced on its own clock.

The split follows k6's execution segments: the single-driver plan numbers its requests
0, 1, 2, …; share ``i`` of ``N`` sends exactly those whose number is ``≡ i (mod N)``. With
constant arrivals the union of the shares' send times is therefore the single driver's
plan, request for request (``tests/traffic/test_distributed_plan.py`` checks it). Poisson
arrivals cannot be split by number without every worker drawing the whole sequence, so
each share draws its own Poisson process at ``rate / N`` from its own seeded generator: the
superposition of N independent Poisson processes of rate ``λ(t)/N`` is a Poisson process of
rate ``λ(t)``, the same load in distribution.

Pacing stays local: after the start instant, a share talks to the scheduler only to publish
each window once it is final (a few per second), never per request.

:func:`drive_share` is the Dask task. It runs the share on a fresh uvloop in the worker's
thread, maps the coordinator's wall-clock start instant onto the worker's monotonic clock,
publishes through ``Worker.log_event`` (non-blocking and thread-safe), and stops when its
plan ends or when its task is cancelled (the coordinator stopped, or went away: the
scheduler releases a vanished client's tasks, so a worker never sends forever).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from chaos_workbench.traffic.distributed.wire import (
    ShareDone,
    ShareFailed,
    SharePlan,
    ShareStarted,
    ShareWindow,
    encode_window,
)
from chaos_workbench.traffic.driver import LoadDriver
from chaos_workbench.traffic.schedule import RateProfile
from chaos_workbench.traffic.spec import TrafficSpec

__all__ = ["ShareDriver", "drive_share", "share_offsets_ns", "share_spec", "warm"]

_WATCH_S = 0.1  # how often a share checks that its task is still wanted (local, no network)

Publish = Callable[[ShareStarted | ShareWindow | ShareDone | ShareFailed], None]


def _share_targets(arrival: str, share: int, shares: int, rng: random.Random) -> Iterator[float]:
    """Count targets of the share: see the module docstring."""
    if arrival == "constant":
        k = share
        while True:
            yield float(k)
            k += shares
    elif arrival == "poisson":
        total = 0.0
        while True:
            total += rng.expovariate(1.0 / shares)  # mean gap of N counts: rate / N
            yield total
    else:
        raise ValueError(f"unknown arrival process {arrival!r} (constant or poisson)")


def share_offsets_ns(
    profile: RateProfile, arrival: str, share: int, shares: int, rng: random.Random
) -> Iterator[int]:
    """Intended send times of share ``share`` of ``shares`` (ns from the common start)."""
    if not 0 <= share < shares:
        raise ValueError(f"share {share} is not one of 0..{shares - 1}")
    for t_s in profile.times_s(_share_targets(arrival, share, shares, rng)):
        yield int(t_s * 1_000_000_000)


def share_spec(spec: TrafficSpec, shares: int) -> TrafficSpec:
    """The spec a share runs: a set connection bound is divided between the shares."""
    if spec.connections is None:
        return spec
    return spec.model_copy(update={"connections": max(1, -(-spec.connections // shares))})


class ShareDriver(LoadDriver):
    """A :class:`LoadDriver` that sends only its share of the plan (see the module docstring)."""

    def __init__(
        self,
        spec: TrafficSpec,
        *,
        share: int,
        shares: int,
        window_ms: int,
        seed: int,
        duration_s: float | None,
    ) -> None:
        rng = random.Random(f"{seed}/{share}")  # each share its own stream, replayable
        super().__init__(
            share_spec(spec, shares), window_ms=window_ms, rng=rng, duration_s=duration_s
        )
        # The one change to the single driver: the plan is this share's slice of it.
        self._offsets = share_offsets_ns(self._profile, spec.arrival, share, shares, rng)


async def _watch(driver: ShareDriver, wanted: Callable[[], bool]) -> None:
    while not driver.stopping:
        if not wanted():
            driver.stop()
            return
        await asyncio.sleep(_WATCH_S)


async def run_share(
    plan: SharePlan, publish: Publish, wanted: Callable[[], bool], worker: str
) -> None:
    """Wait for the start instant, send the share, publish each final window, then done."""
    wait_ns = plan.start_unix_ns - time.time_ns()
    if -wait_ns > plan.late_start_limit_s * 1e9:
        publish(
            ShareFailed(
                share=plan.share,
                reason=f"reached its worker {-wait_ns / 1e9:.1f} s after the start instant",
            )
        )
        return
    target_ns = time.monotonic_ns() + wait_ns  # the start instant on this machine's clock
    if wait_ns > 0:
        await asyncio.sleep(wait_ns / 1e9)
    driver = ShareDriver(
        plan.spec,
        share=plan.share,
        shares=plan.shares,
        window_ms=plan.window_ms,
        seed=plan.seed,
        duration_s=plan.duration_s,
    )
    driver.keep_requests = plan.keep_requests
    last_index = -1
    async with driver:
        recorder = driver.recorder
        assert recorder is not None
        error_ms = (recorder.start_ns - target_ns) / 1e6
        publish(
            ShareStarted(share=plan.share, address=worker, pid=os.getpid(), start_error_ms=error_ms)
        )
        watch = asyncio.create_task(_watch(driver, wanted))
        try:
            async for window in driver.windows():
                last_index = (window.start_ns - recorder.start_ns) // recorder.window_ns
                publish(encode_window(plan.share, last_index, window, recorder.start_ns))
        finally:
            watch.cancel()
    stats = driver.stats
    publish(
        ShareDone(
            share=plan.share,
            last_index=last_index,
            sent=stats.sent,
            connections_opened=stats.connections_opened,
            send_span_s=stats.send_span_s,
        )
    )


def drive_share(plan: SharePlan) -> None:
    """The Dask task: run one share on this worker, publishing to ``plan.topic``."""
    from distributed import get_worker

    worker = get_worker()
    key = worker.get_current_task()

    def publish(message: ShareStarted | ShareWindow | ShareDone | ShareFailed) -> None:
        worker.log_event(plan.topic, message.model_dump())

    def wanted() -> bool:
        # Read-only look at the worker's own state: a cancelled or released task means the
        # coordinator stopped the run or is gone.
        task = worker.state.tasks.get(key) if key is not None else None
        return task is not None and task.state in ("executing", "long-running")

    try:
        _run_loop(run_share(plan, publish, wanted, worker.address))
    except Exception as exc:  # reported to the coordinator, then raised for Dask's record
        publish(ShareFailed(share=plan.share, reason=f"{type(exc).__name__}: {exc}"))
        raise


def warm() -> int:
    """Run on every worker before the start: importing this module is the whole point."""
    return os.getpid()


def _run_loop(coro: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when installed, like ``cwb load`` (more requests per core)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a core dependency off Windows
        asyncio.run(coro)
        return
    uvloop.run(coro)
