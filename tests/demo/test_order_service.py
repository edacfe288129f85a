"""The order-service in both modes, through real PostgreSQL, Valkey, NATS and payments.

The outage test stops real dependencies and measures, with real requests, what the
resilience switch changes: ``on`` keeps serving reads from the cache and accepts writes
(outbox, pending payment, buffered event) while ``off`` fails them; after the restart
``on`` delivers what it held back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import nats
import pytest
import valkey.asyncio as valkey
from demo_helpers import (
    DemoServer,
    Stack,
    connect_pg,
    demo_argv,
    free_port,
    start_demo_server,
    start_stack,
    stop_all,
)

from chaos_workbench.proxy.manager import ProxyManager

pytestmark = pytest.mark.demo

# The service must start fast (< 2 s on an idle machine: it connects lazily); the bound
# here leaves room for a loaded 2-core CI box.
START_BOUND_S = 5.0


def start_service(stack: Stack, mode: str, *extra: str) -> tuple[DemoServer, float]:
    """Start an order-service on ``stack``; the server and its start-up time in seconds."""
    port = free_port()
    argv = demo_argv(
        "order_service", "--port", str(port), *stack.service_args(), "--resilience", mode, *extra
    )
    server = DemoServer(f"order-{mode}", argv, port, stack.log_dir / f"order-{mode}-{port}.log")
    return server, server.start()


@pytest.fixture(scope="module", params=["off", "on"])
def service(request: pytest.FixtureRequest, stack: Stack) -> Iterator[DemoServer]:
    server, startup_s = start_service(stack, request.param)
    assert startup_s < START_BOUND_S
    yield server
    try:
        assert server.stop() == 0, server.tail()  # SIGTERM: a clean, prompt exit
    finally:
        server.kill()


async def request(
    http: aiohttp.ClientSession, method: str, url: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    async with http.request(method, url, json=body) as resp:
        return resp.status, json.loads(await resp.text())


async def db_row(stack: Stack, order_id: str) -> asyncpg.Record | None:
    conn = await connect_pg(stack.db.port)
    try:
        return await conn.fetchrow("SELECT * FROM orders WHERE id = $1", order_id)
    finally:
        await conn.close()


async def test_reads_and_writes_through_real_dependencies(
    service: DemoServer, stack: Stack
) -> None:
    base = f"http://127.0.0.1:{service.port}"
    nc = await nats.connect(f"nats://127.0.0.1:{stack.queue.port}")
    sub = await nc.subscribe("orders.created")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            status, body = await request(http, "GET", f"{base}/orders/5")
            assert (status, body["sku"]) == (200, "SEED-5")
            status, _ = await request(http, "GET", f"{base}/orders/no-such-order")
            assert status == 404

            status, created = await request(http, "POST", f"{base}/orders", {"sku": "X9", "qty": 3})
            assert status == 201, created
            assert created["status"] == "paid"
            assert created["payment_id"].startswith("ch_")

            row = await db_row(stack, created["id"])
            assert row is not None
            assert (row["sku"], row["qty"], row["status"]) == ("X9", 3, "paid")
            event = await sub.next_msg(timeout=5)
            assert json.loads(event.data)["id"] == created["id"]

            status, again = await request(http, "GET", f"{base}/orders/{created['id']}")
            assert (status, again["source"]) == (200, "cache")

            status, bad = await request(http, "POST", f"{base}/orders", {"sku": "", "qty": 0})
            assert status == 400
            assert "sku" in bad["error"]
            status, health = await request(http, "GET", f"{base}/healthz")
            assert status == 200
            assert health["resilience"] in ("off", "on")
    finally:
        await nc.close()


async def burst(
    http: aiohttp.ClientSession, base: str, reads: int, writes: int
) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, dict[str, Any]]]]:
    """``reads`` GETs of seeded orders and ``writes`` POSTs, as real requests."""
    got = [await request(http, "GET", f"{base}/orders/{1 + i % 20}") for i in range(reads)]
    made = [
        await request(http, "POST", f"{base}/orders", {"sku": "OUT", "qty": 1})
        for _ in range(writes)
    ]
    return got, made


async def poll(check: Any, timeout_s: float) -> bool:
    """Poll ``check()`` until true; a restarted server refusing connections is "not yet"."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if await check():
                return True
        except (OSError, asyncpg.PostgresError, aiohttp.ClientError):
            pass  # e.g. PostgreSQL's "the database system is starting up"
        await asyncio.sleep(0.1)
    return False


@pytest.mark.slow
async def test_with_a_dependency_down_on_keeps_serving_and_off_fails(demo_tmp: Path) -> None:
    own = await asyncio.to_thread(start_stack, demo_tmp)
    services: list[DemoServer] = []
    # NATS is reached through a proxy, so the test can hold the service off the restarted
    # server until its own subscriber listens (else the buffered event could go first).
    proxies = ProxyManager(rng=random.Random(1))
    try:
        # A short cache freshness (0.2 s) so that reads of warm entries need the db.
        queue = await proxies.create("queue", "127.0.0.1:0", f"127.0.0.1:{own.queue.port}")
        options = ("--cache-ttl-s", "0.2", "--queue", queue.listen)
        off, _ = await asyncio.to_thread(start_service, own, "off", *options)
        services.append(off)
        on, _ = await asyncio.to_thread(start_service, own, "on", *options)
        services.append(on)
        off_url, on_url = f"http://127.0.0.1:{off.port}", f"http://127.0.0.1:{on.port}"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            # Warm-up puts the seeded orders into the cache (on: its stale fallback).
            cache = valkey.Valkey(host="127.0.0.1", port=own.cache.port)
            try:
                assert await poll(lambda: _warmed(cache), 10)
            finally:
                await cache.aclose()

            # -- payments down ---------------------------------------------------------
            assert own.payments.stop() == 0
            status, pending = await request(http, "POST", f"{on_url}/orders", {"sku": "P"})
            assert (status, pending["status"]) == (202, "payment_pending"), pending
            status, failed = await request(http, "POST", f"{off_url}/orders", {"sku": "P"})
            assert status == 503, failed
            await asyncio.to_thread(own.payments.start)

            async def charged() -> bool:
                row = await db_row(own, pending["id"])
                return row is not None and row["status"] == "paid"

            assert await poll(charged, 15), "the queued charge was not settled"

            # -- queue down: on buffers the event and publishes it when NATS is back --------
            assert own.queue.stop() == 0
            status, buffered = await request(http, "POST", f"{on_url}/orders", {"sku": "Q"})
            assert status == 201, buffered  # stored and paid; only the event waits
            status, health = await request(http, "GET", f"{on_url}/healthz")
            assert health["queued_events"] >= 1
            await proxies.update("queue", enabled=False)
            await asyncio.to_thread(own.queue.start)
            nc = await nats.connect(f"nats://127.0.0.1:{own.queue.port}")
            try:
                sub = await nc.subscribe("orders.created")
                await nc.flush()  # the subscription is registered before the service is back
                await proxies.update("queue", enabled=True)
                delivered: set[str] = set()
                deadline = time.monotonic() + 15
                while buffered["id"] not in delivered:
                    assert time.monotonic() < deadline, "the buffered event never arrived"
                    with contextlib.suppress(nats.errors.TimeoutError):
                        msg = await sub.next_msg(timeout=0.5)
                        delivered.add(json.loads(msg.data)["id"])
            finally:
                await nc.close()

            # -- db down ---------------------------------------------------------------
            assert own.db.stop() == 0
            await asyncio.sleep(0.3)  # let every cached entry pass its 0.2 s freshness
            on_reads, on_writes = await burst(http, on_url, reads=20, writes=5)
            off_reads, off_writes = await burst(http, off_url, reads=20, writes=5)
            assert [s for s, _ in on_reads] == [200] * 20
            assert {b["source"] for _, b in on_reads} == {"stale-cache"}
            assert [s for s, _ in on_writes] == [202] * 5
            assert {b["source"] for _, b in on_writes} == {"outbox"}
            assert [s for s, _ in off_reads] == [503] * 20
            assert [s for s, _ in off_writes] == [503] * 5

            await asyncio.to_thread(own.db.start)

            async def flushed() -> bool:
                rows = [await db_row(own, b["id"]) for _, b in on_writes]
                return all(r is not None for r in rows)

            assert await poll(flushed, 15), "the outbox was not flushed after the db restart"

            async def off_back() -> bool:
                status, _ = await request(http, "GET", f"{off_url}/orders/9")
                return status == 200

            assert await poll(off_back, 15), "off did not reconnect after the db restart"
    finally:
        stop_all(services)
        await proxies.aclose()
        stop_all(own.servers)


async def _warmed(cache: valkey.Valkey) -> bool:
    return all([await cache.exists(f"order:{i}") for i in range(1, 21)])


@pytest.mark.parametrize("mode", ["off", "on"])
async def test_connects_to_a_queue_that_appears_after_start(
    mode: str, stack: Stack, demo_tmp: Path
) -> None:
    """The workbench creates its proxies after every process is ready: the service must
    pick the queue up at once, not after nats-py's 2 s retry interval."""
    queue_port = free_port()
    service, _ = await asyncio.to_thread(
        start_service, stack, mode, "--queue", f"127.0.0.1:{queue_port}"
    )
    late_queue = None
    try:
        late_queue = await asyncio.to_thread(
            start_demo_server, "late-queue", "nats_server", queue_port, demo_tmp
        )
        appeared = time.monotonic()
        url = f"http://127.0.0.1:{service.port}/orders"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:

            async def created() -> bool:
                status, _ = await request(http, "POST", url, {"sku": "N"})
                if mode == "off":
                    return status == 201  # off fails the order while not connected
                # on accepts it anyway and buffers the event: published means none waiting
                _, health = await request(http, "GET", f"http://127.0.0.1:{service.port}/healthz")
                return status == 201 and health["queued_events"] == 0

            assert await poll(created, 10)
        assert time.monotonic() - appeared < 1.5  # nats-py alone: up to 2 s
    finally:
        stop_all([service, *([late_queue] if late_queue else [])])
