"""Each dependency launcher starts a real server, serves on its port, and stops on SIGTERM.

PostgreSQL also survives the "kill db" experiment: SIGKILL of the launcher takes the server
down with it, and the next start recovers the data.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp
import nats
import pytest
import valkey.asyncio as valkey
from demo_helpers import (
    Stack,
    connect_pg,
    free_port,
    port_open,
    start_demo_server,
    wait_until,
)

from chaos_workbench.demo.postgres_server import SEED_ORDERS

pytestmark = pytest.mark.demo


async def test_postgres_serves_the_seeded_schema(stack: Stack) -> None:
    conn = await connect_pg(stack.db.port)
    try:
        assert await conn.fetchval("SELECT 1") == 1
        seeded = await conn.fetchval("SELECT count(*) FROM orders WHERE id ~ '^[0-9]+$'")
        assert seeded == SEED_ORDERS
        row = await conn.fetchrow("SELECT sku, status FROM orders WHERE id = '7'")
        assert row is not None
        assert (row["sku"], row["status"]) == ("SEED-7", "paid")
    finally:
        await conn.close()


async def test_valkey_answers_ping_and_keeps_nothing_on_disk(stack: Stack) -> None:
    client = valkey.Valkey(host="127.0.0.1", port=stack.cache.port)
    try:
        assert await client.ping() is True
        assert await client.config_get("save") == {"save": ""}
        assert await client.config_get("appendonly") == {"appendonly": "no"}
    finally:
        await client.aclose()


async def test_nats_delivers_a_message(stack: Stack) -> None:
    nc = await nats.connect(f"nats://127.0.0.1:{stack.queue.port}", connect_timeout=5)
    try:
        sub = await nc.subscribe("demo.test")
        await nc.publish("demo.test", b"hello")
        msg = await sub.next_msg(timeout=5)
        assert msg.data == b"hello"
    finally:
        await nc.close()


async def test_payments_charges_idempotently_and_rejects_bad_input(stack: Stack) -> None:
    url = f"http://127.0.0.1:{stack.payments.port}/charge"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"order_id": "o-1", "amount_cents": 500}) as resp:
            assert resp.status == 200
            first = await resp.json()
        async with http.post(url, json={"order_id": "o-1", "amount_cents": 500}) as resp:
            again = await resp.json()
        async with http.post(url, json={"order_id": "o-2", "amount_cents": 500}) as resp:
            other = await resp.json()
        async with http.post(url, json={"order_id": "o-3", "amount_cents": -1}) as resp:
            assert resp.status == 400
            assert "amount_cents" in json.loads(await resp.text())["error"]
    assert first["id"].startswith("ch_")
    assert again["id"] == first["id"]  # a retried charge is the same charge
    assert other["id"] != first["id"]


@pytest.mark.parametrize(
    ("module", "extra"),
    [("valkey_server", ()), ("nats_server", ()), ("payments", ())],
)
def test_launcher_stops_cleanly_on_sigterm(
    module: str, extra: tuple[str, ...], demo_tmp: Path
) -> None:
    port = free_port()
    server = start_demo_server(module, module, port, demo_tmp, *extra)
    try:
        assert port_open(port)
        assert server.stop(timeout_s=10) == 0
        assert not port_open(port)
    finally:
        server.kill()


@pytest.mark.slow
async def test_postgres_survives_sigkill_and_stops_on_sigterm(demo_tmp: Path) -> None:
    port = free_port()
    data = demo_tmp / "pg"
    server = start_demo_server("db", "postgres_server", port, demo_tmp, "--data", str(data))
    try:
        conn = await connect_pg(port)
        await conn.execute(
            "INSERT INTO orders (id, sku, qty, status) VALUES ('kept', 'K', 2, 'paid')"
        )
        await conn.close()

        # The "kill db" experiment: SIGKILL the supervised pid (the launcher) only.
        server.signal(signal.SIGKILL)
        assert server.wait() == -signal.SIGKILL
        assert await asyncio.to_thread(wait_until, lambda: not port_open(port), 10.0), (
            "postgres outlived its launcher"
        )

        restart_s = server.start()
        conn = await connect_pg(port)
        try:
            assert await conn.fetchval("SELECT qty FROM orders WHERE id = 'kept'") == 2
            assert await conn.fetchval("SELECT count(*) FROM orders") == 50 + 1
        finally:
            await conn.close()
        assert restart_s < 30  # crash recovery of a small cluster: ~1 s; bounded for load

        assert server.stop(timeout_s=15) == 0  # a fast shutdown, even with clients gone
        assert not port_open(port)
        assert not (data / "postmaster.pid").exists()
    finally:
        server.kill()
