"""``cwb load --workers N`` / ``--scheduler tcp://…``: the same load, sent by Dask workers.

The summary is the single driver's (:class:`.LoadSummary`, from the merged windows) plus
what only a distributed run has: how many shares, each share's start error, and the shares
that were lost (their load is missing from the totals, never rescaled).
"""

from __future__ import annotations

import asyncio
import signal

from pydantic import BaseModel, ConfigDict

from chaos_workbench.traffic.distributed.driver import DistributedLoadDriver
from chaos_workbench.traffic.distributed.merge import ShareLoss
from chaos_workbench.traffic.spec import TrafficSpec
from chaos_workbench.traffic.summary import LoadSummary, summarize

__all__ = ["DistributedSummary", "run_distributed_load"]


class DistributedSummary(BaseModel):
    """A distributed load run: the merged summary, the shares, and any share lost."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    load: LoadSummary
    shares: int
    scheduler: str | None  # None: a local cluster started for the run
    start_error_ms: dict[int, float]  # how late each share began after the start instant
    lost_shares: tuple[ShareLoss, ...]


async def run_distributed_load(
    spec: TrafficSpec,
    *,
    duration_s: float,
    window_ms: int,
    seed: int,
    workers: int | None,
    scheduler: str | None,
    allowed_hosts: tuple[str, ...] = (),
) -> DistributedSummary:
    """Run the load over the workers; the first Ctrl-C stops it (summary so far)."""
    loop = asyncio.get_running_loop()
    interrupted = False
    driver = DistributedLoadDriver(
        spec,
        seed=seed,
        window_ms=window_ms,
        duration_s=duration_s,
        workers=workers,
        scheduler=scheduler,
        allowed_hosts=allowed_hosts,
    )

    def on_interrupt() -> None:
        nonlocal interrupted
        interrupted = True
        driver.stop()

    loop.add_signal_handler(signal.SIGINT, on_interrupt)
    try:
        async with driver:
            async for _ in driver.windows():
                pass
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    load = summarize(
        driver.stats, url=spec.url + spec.requests[0].path, mode=spec.mode, interrupted=interrupted
    )
    return DistributedSummary(
        load=load,
        shares=driver.shares,
        scheduler=scheduler,
        start_error_ms={k: round(v, 3) for k, v in sorted(driver.start_errors_ms.items())},
        lost_shares=driver.lost_shares,
    )
