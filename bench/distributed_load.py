"""Benchmark of distributed load: 1, 2 and 4 Dask workers against one in-process driver.

    bash bench/install_load_tools.sh                  # nginx (OS package)
    .venv/bin/python bench/distributed_load.py        # full: ~3 min
    .venv/bin/python bench/distributed_load.py --quick

Every configuration sends the same open-loop constant rate for the same duration at the
same target (nginx serving a small file on loopback; without nginx, the suite tests' own
Python server, which saturates far earlier). One local Dask cluster per worker count is
started once, beside the others, and runs alternate (in-process, 1, 2, 4 workers, then
again) so a noisy neighbour hurts all alike. Printed per configuration, as medians over the
runs and as ratios to the in-process driver measured in the same run:

* sent rate: requests in the merged windows / planned duration, and accuracy = requests /
  (rate × duration) (constant arrivals plan exactly rate × duration requests);
* merged p50 and p99 latency (from each request's intended send time);
* delivery lag: how long after a window's end the merged window reached the coordinator.

On one 2-core machine the workers share the cores with nginx and each other, so this
measures the machinery's cost and accuracy, not the scaling real machines give.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_bench import nginx_server

from chaos_workbench.traffic.distributed import LOCAL_CLUSTER_OPTIONS, DistributedLoadDriver
from chaos_workbench.traffic.driver import LoadDriver
from chaos_workbench.traffic.spec import TrafficSpec
from chaos_workbench.traffic.window import Window, merge_windows

Result = tuple[float, float, float, float]  # sent rate, p50 ms, p99 ms, delivery lag ms


def _result(windows: list[Window], duration_s: float, lags_ms: list[float]) -> Result:
    total = merge_windows(windows)
    return (
        total.requests / duration_s,
        total.percentile_ms(50) or 0.0,
        total.percentile_ms(99) or 0.0,
        statistics.median(lags_ms) if lags_ms else 0.0,
    )


async def in_process(spec: TrafficSpec, duration_s: float) -> Result:
    windows: list[Window] = []
    lags: list[float] = []
    async with LoadDriver(spec, rng=random.Random(0), duration_s=duration_s) as driver:
        async for window in driver.windows():
            windows.append(window)
            lags.append((time.monotonic_ns() - window.end_ns) / 1e6)
    return _result(windows, duration_s, lags)


async def distributed(spec: TrafficSpec, duration_s: float, scheduler: str) -> Result:
    windows: list[Window] = []
    lags: list[float] = []
    driver = DistributedLoadDriver(spec, seed=0, duration_s=duration_s, scheduler=scheduler)
    async with driver:
        async for window in driver.windows():
            windows.append(window)
            lags.append((time.monotonic_ns() - window.end_ns) / 1e6)
    if driver.lost_shares:
        print(f"  lost shares: {driver.lost_shares}")
    return _result(windows, duration_s, lags)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 runs of 3 s at 5,000/s")
    args = parser.parse_args()
    rate, duration_s, runs = (5_000.0, 3.0, 3) if args.quick else (10_000.0, 10.0, 5)
    from distributed import LocalCluster

    logging.getLogger("distributed").setLevel(logging.ERROR)  # its INFO lines at every close

    with nginx_server() as url:
        if url is None:
            sys.exit("nginx not found: run bench/install_load_tools.sh")
        spec = TrafficSpec(url=url, rate_per_s=rate)
        clusters = {n: LocalCluster(n_workers=n, **LOCAL_CLUSTER_OPTIONS) for n in (1, 2, 4)}
        try:
            configs: dict[str, Callable[[], Awaitable[Result]]] = {
                "in-process": lambda: in_process(spec, duration_s)
            }
            for n, cluster in clusters.items():
                address = str(cluster.scheduler_address)
                configs[f"{n} worker{'s' * (n > 1)}"] = lambda address=address: distributed(
                    spec, duration_s, address
                )
            results: dict[str, list[Result]] = {name: [] for name in configs}
            for run in range(runs):
                for name, make in configs.items():
                    results[name].append(asyncio.run(make()))  # type: ignore[arg-type]
                    print(f"run {run + 1}/{runs} {name}: {results[name][-1]}", flush=True)
        finally:
            for cluster in clusters.values():
                cluster.close()
    base = [statistics.median(r[i] for r in results["in-process"]) for i in range(4)]
    print(f"\n{rate:,.0f} req/s for {duration_s:g} s, medians of {runs} runs (ratio to in-process)")
    print(f"{'':<12}{'sent/s':>16}{'accuracy':>10}{'p50 ms':>16}{'p99 ms':>16}{'lag ms':>10}")
    for name, rows in results.items():
        sent, p50, p99, lag = (statistics.median(r[i] for r in rows) for i in range(4))
        print(
            f"{name:<12}{sent:>9,.0f} ({sent / base[0]:.3f}){sent / rate:>10.4f}"
            f"{p50:>9.2f} ({p50 / base[1]:.2f}){p99:>9.2f} ({p99 / base[2]:.2f}){lag:>10.0f}"
        )


if __name__ == "__main__":
    main()
