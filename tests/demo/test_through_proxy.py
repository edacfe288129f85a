"""The demo's premise, measured: the same faults, through the workbench's real fault proxy,
hurt ``--resilience off`` and not ``on``.

The service (its own process) reaches db and payments through the workbench's proxy (its
``ProxyManager``, run here in the test's event loop); the faults are the toxics the suite's
``latency`` and ``http_error`` experiments add.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from demo_helpers import DemoServer, Stack, demo_argv, free_port, start_stack, stop_all

from chaos_workbench.proxy.manager import ProxyManager
from chaos_workbench.proxy.models import ToxicSpec

pytestmark = [pytest.mark.demo, pytest.mark.slow]


async def timed(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None
) -> tuple[int, float, dict[str, Any]]:
    started = time.monotonic()
    async with http.request(method, url, json=body) as resp:
        data = json.loads(await resp.text())
        return resp.status, time.monotonic() - started, data


def start_service(stack: Stack, mode: str, db: str, payments: str) -> DemoServer:
    port = free_port()
    argv = demo_argv(
        "order_service",
        "--port",
        str(port),
        "--db",
        db,
        "--cache",
        f"127.0.0.1:{stack.cache.port}",
        "--queue",
        f"127.0.0.1:{stack.queue.port}",
        "--payments",
        payments,
        "--resilience",
        mode,
        "--cache-ttl-s",
        "0.2",  # short freshness: reads need the db, so db latency shows on them
    )
    server = DemoServer(f"order-{mode}", argv, port, stack.log_dir / f"order-{mode}.log")
    server.start()
    return server


def remove_toxic(proxies: ProxyManager, proxy: str, name: str) -> None:
    """Remove a toxic; the proxy (at the time of writing) raises ENOTCONN from flushing a
    link whose client already closed - which the resilient service's terminated db
    connections are. Reported to the proxy's owner; the toxic must be gone either way."""
    with contextlib.suppress(OSError):
        proxies.remove_toxic(proxy, name)
    assert name not in {t.name for t in proxies.toxics(proxy)}


async def test_db_latency_and_payment_errors_hurt_off_not_on(demo_tmp: Path) -> None:
    stack = await asyncio.to_thread(start_stack, demo_tmp)
    proxies = ProxyManager(rng=random.Random(2026))
    services: list[DemoServer] = []
    try:
        db = await proxies.create("db", "127.0.0.1:0", f"127.0.0.1:{stack.db.port}")
        pay = await proxies.create("payments", "127.0.0.1:0", f"127.0.0.1:{stack.payments.port}")
        for mode in ("off", "on"):
            services.append(
                await asyncio.to_thread(start_service, stack, mode, db.listen, pay.listen)
            )
        off, on = (f"http://127.0.0.1:{s.port}" for s in services)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            for base in (off, on):  # warm both: pools connected, seeded orders cached
                for i in range(1, 11):
                    assert (await timed(http, "GET", f"{base}/orders/{i}"))[0] == 200

            # -- 500 ms on every db response, as the db-latency experiment --------------
            proxies.add_toxic(
                "db", ToxicSpec(name="slow", type="latency", attributes={"latency": 500})
            )
            await asyncio.sleep(0.3)  # cached entries pass their 0.2 s freshness
            results: dict[str, list[tuple[int, float, dict[str, Any]]]] = {}
            for name, base in (("off", off), ("on", on)):
                reads = [await timed(http, "GET", f"{base}/orders/{i}") for i in range(1, 6)]
                writes = [
                    await timed(http, "POST", f"{base}/orders", {"sku": "L"}) for _ in range(2)
                ]
                results[name] = reads + writes
            remove_toxic(proxies, "db", "slow")

            off_times = [t for _, t, _ in results["off"]]
            on_times = [t for _, t, _ in results["on"]]
            assert statistics.median(off_times) >= 0.45  # every db round trip pays 500 ms
            assert all(s in (200, 201, 202) for s, _, _ in results["on"]), results["on"]
            # On answers inside the demo's 300 ms p99 budget (timeouts + stale cache +
            # outbox); the bound leaves room for a loaded machine and stays below off's floor.
            assert max(on_times) < 0.5, on_times
            held = [b["id"] for s, _, b in results["on"] if s == 202]

            async def written() -> bool:
                conn = await asyncpg.connect(host="127.0.0.1", port=stack.db.port, user="postgres")
                try:
                    found = await conn.fetchval(
                        "SELECT count(*) FROM orders WHERE id = ANY($1::text[])", held
                    )
                finally:
                    await conn.close()
                return bool(found == len(held))

            deadline = time.monotonic() + 15
            while not await written():
                assert time.monotonic() < deadline, "the outbox was not flushed after the fault"
                await asyncio.sleep(0.1)

            # -- 80 % of payment requests answered 503, as the payments-errors experiment -
            proxies.add_toxic(
                "payments",
                ToxicSpec(
                    name="errors",
                    type="http_error",
                    stream="upstream",
                    attributes={"status": 503, "probability": 0.8},
                ),
            )
            outcome: dict[str, list[int]] = {}
            for name, base in (("off", off), ("on", on)):
                outcome[name] = [
                    (await timed(http, "POST", f"{base}/orders", {"sku": "E"}))[0]
                    for _ in range(20)
                ]
            remove_toxic(proxies, "payments", "errors")
            assert outcome["off"].count(503) >= 8, outcome["off"]  # ~16 expected of 20
            assert all(s in (201, 202) for s in outcome["on"]), outcome["on"]
    finally:
        stop_all(services)
        await proxies.aclose()
        stop_all(stack.servers)
