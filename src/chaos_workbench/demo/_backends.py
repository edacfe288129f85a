"""The order-service's four dependencies, as plain calls: no policy, no fallback.

``Backends`` owns the clients (asyncpg pool, Valkey, NATS, aiohttp) and exposes one
coroutine per operation. Policy — timeouts, retries, breakers, fallbacks — lives in
``order_service`` (``ResilientOrders``); the naive mode calls these directly.

Client settings differ by mode only where a library default would defeat the resilient
policy: ``--resilience on`` uses short connect timeouts, no pool reset round trip, and no
NATS reconnect buffer (it buffers publishes itself, bounded). ``off`` keeps every library
default. Both modes connect lazily, so the service starts in well under two seconds even
when a dependency is down, and both reconnect after a dependency restarts.

Exceptions: each call raises whatever its client raises (asyncpg, valkey, nats, aiohttp
errors), plus::

    PaymentDeclined      payments answered, but not 200
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import aiohttp
import asyncpg
import nats
import valkey.asyncio as valkey
from asyncpg import Record
from asyncpg.pool import PoolConnectionProxy
from nats.aio.client import Client as NatsClient

__all__ = ["Backends", "CachedOrder", "Order", "PaymentDeclined"]

T = TypeVar("T")
ORDER_EVENTS_SUBJECT = "orders.created"
_CACHE_KEEP_S = 3600  # how long Valkey keeps an entry; freshness is judged separately


class PaymentDeclined(Exception):
    """The payments service answered, but not with a charge."""


@dataclass(frozen=True)
class Order:
    id: str
    sku: str
    qty: int
    status: str  # "paid" or "payment_pending"
    payment_id: str | None = None

    def to_json(self) -> dict[str, str | int | None]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Order:
        return cls(
            id=str(data["id"]),
            sku=str(data["sku"]),
            qty=int(data["qty"]),
            status=str(data["status"]),
            payment_id=None if data.get("payment_id") is None else str(data["payment_id"]),
        )


@dataclass(frozen=True)
class CachedOrder:
    order: Order
    cached_at: float  # wall clock (time.time), shared by every service instance

    def fresh(self, ttl_s: float) -> bool:
        return time.time() - self.cached_at < ttl_s


async def _no_reset(conn: PoolConnectionProxy[Record]) -> None:
    """The service keeps no session state, so the pool's reset round trip is skipped."""


class Backends:
    """Clients for db, cache, queue and payments, addressed through the workbench proxies."""

    def __init__(
        self,
        *,
        db: tuple[str, int],
        cache: tuple[str, int],
        queue: tuple[str, int],
        payments: tuple[str, int],
        resilient: bool,
    ) -> None:
        self.db_address = db
        self.cache_address = cache
        self.queue_url = f"nats://{queue[0]}:{queue[1]}"
        self.payments_url = f"http://{payments[0]}:{payments[1]}/charge"
        self.resilient = resilient
        self.pool: asyncpg.Pool | None = None
        self.cache: valkey.Valkey | None = None
        self.http: aiohttp.ClientSession | None = None
        self.nc: NatsClient | None = None
        self._nats_task: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        """Create the clients without connecting (connections are made on first use)."""
        extra: dict[str, Any] = {"timeout": 1.0, "reset": _no_reset} if self.resilient else {}
        self.pool = await asyncpg.create_pool(
            host=self.db_address[0],
            port=self.db_address[1],
            user="postgres",
            database="postgres",
            min_size=0,  # no connection at start: a down db must not delay startup
            max_size=10,
            **extra,
        )
        host, port = self.cache_address
        if self.resilient:
            self.cache = valkey.Valkey(
                host=host, port=port, socket_timeout=1.0, socket_connect_timeout=0.5
            )
        else:
            self.cache = valkey.Valkey(host=host, port=port)
        self.http = aiohttp.ClientSession()
        self._nats_task = asyncio.create_task(self._connect_nats())

    async def close(self) -> None:
        self._closing = True
        if self._nats_task is not None:
            self._nats_task.cancel()
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):  # shutting down: a failed close is moot
                async with asyncio.timeout(1.0):
                    await self.nc.close()
        if self.pool is not None:
            self.pool.terminate()  # no graceful wait: in-flight requests are already gone
        if self.cache is not None:
            await self.cache.aclose()
        if self.http is not None:
            await self.http.close()

    async def _connect_nats(self) -> None:
        """Connect to NATS in the background, retrying until it succeeds (bounded by close)."""
        options: dict[str, Any] = (
            {
                "connect_timeout": 0.5,
                "reconnect_time_wait": 0.25,
                "max_reconnect_attempts": -1,
                "pending_size": 0,  # no hidden buffer: publishes fail fast, we buffer them
            }
            if self.resilient
            else {}
        )

        # With allow_reconnect, nats-py retries a failed *first* connect by itself, only
        # every reconnect_time_wait (2 s by default). Instead, the first reported error
        # ends the attempt and a new one starts 50 ms later: the service connects within
        # a moment of NATS (or its proxy) appearing, in both modes. (The workbench creates
        # its proxies only after every process is ready.)
        while not self._closing:
            failed = asyncio.Event()

            async def _on_error(exc: Exception, failed: asyncio.Event = failed) -> None:
                failed.set()  # (replacing the default callback also quiets nats-py's log)

            attempt = asyncio.ensure_future(
                nats.connect(
                    servers=[self.queue_url], error_cb=_on_error, allow_reconnect=True, **options
                )
            )
            error = asyncio.ensure_future(failed.wait())
            await asyncio.wait({attempt, error}, timeout=5.0, return_when="FIRST_COMPLETED")
            error.cancel()
            if attempt.done() and not attempt.cancelled() and attempt.exception() is None:
                self.nc = attempt.result()
                return
            attempt.cancel()
            await asyncio.gather(attempt, error, return_exceptions=True)
            await asyncio.sleep(0.05)

    # -- db ----------------------------------------------------------------------------

    async def _with_conn(self, op: Callable[[PoolConnectionProxy[Record]], Awaitable[T]]) -> T:
        assert self.pool is not None
        if not self.resilient:
            async with self.pool.acquire() as conn:
                return await op(conn)
        # Resilient: a timed-out call terminates its connection at once instead of waiting
        # for PostgreSQL to acknowledge the cancel (through a slow link that takes as long
        # as the query itself).
        conn = await self.pool.acquire()
        try:
            return await op(conn)
        except asyncio.CancelledError:  # what a timeout around this call delivers
            conn.terminate()
            raise
        finally:
            await self.pool.release(conn)

    async def db_get(self, order_id: str) -> Order | None:
        async def op(conn: PoolConnectionProxy[Record]) -> Order | None:
            row = await conn.fetchrow(
                "SELECT id, sku, qty, status, payment_id FROM orders WHERE id = $1", order_id
            )
            return None if row is None else Order.from_json(dict(row))

        return await self._with_conn(op)

    async def db_put(self, order: Order) -> None:
        """Insert or advance an order (status only moves from payment_pending to paid)."""

        async def op(conn: PoolConnectionProxy[Record]) -> None:
            await conn.execute(
                "INSERT INTO orders (id, sku, qty, status, payment_id) VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, "
                "payment_id = EXCLUDED.payment_id WHERE orders.status <> 'paid'",
                order.id,
                order.sku,
                order.qty,
                order.status,
                order.payment_id,
            )

        await self._with_conn(op)

    async def db_recent(self, limit: int) -> list[Order]:
        """The oldest ``limit`` orders (the seeded ones first), for cache warm-up."""

        async def op(conn: PoolConnectionProxy[Record]) -> list[Order]:
            rows = await conn.fetch(
                "SELECT id, sku, qty, status, payment_id FROM orders ORDER BY created_at LIMIT $1",
                limit,
            )
            return [Order.from_json(dict(row)) for row in rows]

        return await self._with_conn(op)

    # -- cache -------------------------------------------------------------------------

    async def cache_get(self, order_id: str) -> CachedOrder | None:
        assert self.cache is not None
        raw = await self.cache.get(f"order:{order_id}")
        if raw is None:
            return None
        data = json.loads(raw)
        return CachedOrder(Order.from_json(data["order"]), float(data["cached_at"]))

    async def cache_put(self, order: Order) -> None:
        assert self.cache is not None
        value = json.dumps({"order": order.to_json(), "cached_at": time.time()})
        await self.cache.set(f"order:{order.id}", value, ex=_CACHE_KEEP_S)

    # -- queue -------------------------------------------------------------------------

    async def publish(self, order: Order) -> None:
        nc = self.nc
        if nc is None or nc.is_closed:
            raise ConnectionError("not connected to NATS")
        await nc.publish(ORDER_EVENTS_SUBJECT, json.dumps(order.to_json()).encode())
        if self.resilient:
            # Wait for the server's PONG: a publish into a socket that died a moment ago
            # "succeeds" locally and is lost; confirmed, it is buffered and sent again
            # instead (at least once: a PONG lost after delivery means a duplicate event).
            await nc.flush(timeout=1)

    # -- payments ----------------------------------------------------------------------

    async def charge(self, order_id: str, qty: int) -> str:
        assert self.http is not None
        body = {"order_id": order_id, "amount_cents": 1000 * qty}
        async with self.http.post(self.payments_url, json=body) as resp:
            if resp.status != 200:
                raise PaymentDeclined(f"payments answered {resp.status}")
            data = await resp.json()
            return str(data["id"])
