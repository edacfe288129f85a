"""The demo's system under test: a small order API that depends on db, cache, queue, payments.

    python -m chaos_workbench.demo.order_service --port 8080 --db 127.0.0.1:15432 \\
        --cache 127.0.0.1:16379 --queue 127.0.0.1:14222 --payments 127.0.0.1:18081 \\
        --resilience on

Endpoints: ``GET /orders/{id}`` (cache, else db), ``POST /orders`` with ``{"sku", "qty"}``
(charge payments, insert into db, publish ``orders.created`` on NATS, cache it),
``GET /healthz`` (liveness, plus backlog sizes and breaker states).

The dependency addresses point at the workbench's proxies, so faults land between the
service and its dependencies. ``--resilience`` picks one of two request policies, side by
side below so the difference is easy to read:

- ``off`` (:class:`NaiveOrders`): call each dependency once with library defaults; any
  failure fails the request (503).
- ``on`` (:class:`ResilientOrders`): every call has a timeout, bounded jittered retries and
  a circuit breaker per dependency (``resilience``). Reads fall back to a stale cache entry
  when the db is slow or down. A write the db cannot take goes to a bounded outbox (202
  Accepted) flushed when the db is back; a payment that still fails after retries leaves
  the order ``payment_pending`` with the charge queued; queue publishes that fail are
  buffered and flushed when NATS is back.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from aiohttp import web

from chaos_workbench.demo._backends import Backends, CachedOrder, Order
from chaos_workbench.demo.resilience import (
    Backlog,
    CircuitBreaker,
    DependencyError,
    RetryPolicy,
    call,
)
from chaos_workbench.host.address import split_host_port

__all__ = ["NaiveOrders", "Reply", "ResilientOrders", "ServiceConfig", "build_app", "main"]

T = TypeVar("T")

# Budgets for the resilient policy, sized against the demo SLO (p99 300 ms): a read that
# gives up on the db (2 x 100 ms + jitter) still answers from the cache inside the budget.
DB_READ = RetryPolicy(timeout_s=0.1, attempts=2, base_delay_s=0.01, max_delay_s=0.04)
DB_WRITE = RetryPolicy(timeout_s=0.1, attempts=2, base_delay_s=0.01, max_delay_s=0.04)
CACHE = RetryPolicy(timeout_s=0.05, attempts=1)  # a cache that is slow is a miss
QUEUE = RetryPolicy(timeout_s=0.05, attempts=1)  # failed publishes go to the buffer
PAYMENTS = RetryPolicy(timeout_s=0.1, attempts=3, base_delay_s=0.01, max_delay_s=0.04)
BACKLOG_MAX_ITEMS = 10_000  # ~a few MB of orders: rides out minutes of outage at 50 req/s
DRAIN_INTERVAL_S = 0.1


@dataclass(frozen=True)
class ServiceConfig:
    port: int
    db: tuple[str, int]
    cache: tuple[str, int]
    queue: tuple[str, int]
    payments: tuple[str, int]
    resilient: bool
    cache_ttl_s: float = 1.0  # entries older than this are re-read from the db
    warm_orders: int = 200  # orders loaded into the cache at start (the seeded ones)
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class Reply:
    status: int
    order: Order | None = None
    error: str = ""
    source: str = ""  # "cache", "db", "stale-cache", "outbox"

    def to_response(self) -> web.Response:
        body: dict[str, object] = {}
        if self.order is not None:
            body.update(self.order.to_json())
        if self.source:
            body["source"] = self.source
        if self.error:
            body["error"] = self.error
        return web.json_response(body, status=self.status)


class Orders(Protocol):
    async def get(self, order_id: str) -> Reply: ...
    async def create(self, sku: str, qty: int) -> Reply: ...
    def health(self) -> dict[str, object]: ...


class NaiveOrders:
    """``--resilience off``: one call per dependency, library defaults; a failure is a 503."""

    def __init__(self, backends: Backends, cache_ttl_s: float) -> None:
        self.b = backends
        self.cache_ttl_s = cache_ttl_s

    async def get(self, order_id: str) -> Reply:
        cached = await self.b.cache_get(order_id)
        if cached is not None and cached.fresh(self.cache_ttl_s):
            return Reply(200, cached.order, source="cache")
        order = await self.b.db_get(order_id)
        if order is None:
            return Reply(404, error=f"no order {order_id}")
        await self.b.cache_put(order)
        return Reply(200, order, source="db")

    async def create(self, sku: str, qty: int) -> Reply:
        order_id = uuid.uuid4().hex
        payment_id = await self.b.charge(order_id, qty)
        order = Order(order_id, sku, qty, "paid", payment_id)
        await self.b.db_put(order)
        await self.b.publish(order)
        await self.b.cache_put(order)
        return Reply(201, order, source="db")

    def health(self) -> dict[str, object]:
        return {}


class ResilientOrders:
    """``--resilience on``: timeouts, retries, breakers, fallbacks and bounded backlogs."""

    def __init__(self, backends: Backends, cache_ttl_s: float, rng: random.Random) -> None:
        self.b = backends
        self.cache_ttl_s = cache_ttl_s
        self.rng = rng
        self.breakers = {
            name: CircuitBreaker(name) for name in ("db", "cache", "queue", "payments")
        }
        self.outbox: Backlog[Order] = Backlog("outbox", BACKLOG_MAX_ITEMS)
        self.events: Backlog[Order] = Backlog("events", BACKLOG_MAX_ITEMS)
        self.unpaid: Backlog[Order] = Backlog("unpaid", BACKLOG_MAX_ITEMS)
        self.lost = {"events": 0, "charges": 0}  # what full backlogs could not keep

    async def _call(self, dep: str, policy: RetryPolicy, op: Callable[[], Awaitable[T]]) -> T:
        return await call(op, breaker=self.breakers[dep], policy=policy, rng=self.rng)

    async def _cache_get(self, order_id: str) -> CachedOrder | None:
        try:
            return await self._call("cache", CACHE, lambda: self.b.cache_get(order_id))
        except DependencyError:
            return None

    async def _cache_put(self, order: Order) -> None:
        with contextlib.suppress(DependencyError):  # a lost cache write costs one db read
            await self._call("cache", CACHE, lambda: self.b.cache_put(order))

    async def get(self, order_id: str) -> Reply:
        cached = await self._cache_get(order_id)
        if cached is not None and cached.fresh(self.cache_ttl_s):
            return Reply(200, cached.order, source="cache")
        try:
            order = await self._call("db", DB_READ, lambda: self.b.db_get(order_id))
        except DependencyError as exc:
            if cached is not None:
                return Reply(200, cached.order, source="stale-cache")
            waiting = self._in_outbox(order_id)
            if waiting is not None:
                return Reply(200, waiting, source="outbox")
            return Reply(503, error=str(exc))
        if order is None:
            waiting = self._in_outbox(order_id)  # accepted, not yet flushed to the db
            if waiting is not None:
                return Reply(200, waiting, source="outbox")
            return Reply(404, error=f"no order {order_id}")
        await self._cache_put(order)
        return Reply(200, order, source="db")

    def _in_outbox(self, order_id: str) -> Order | None:
        return next((o for o in self.outbox.items() if o.id == order_id), None)

    async def create(self, sku: str, qty: int) -> Reply:
        order_id = uuid.uuid4().hex
        try:
            payment_id: str | None = await self._call(
                "payments", PAYMENTS, lambda: self.b.charge(order_id, qty)
            )
            order = Order(order_id, sku, qty, "paid", payment_id)
        except DependencyError:
            if self.unpaid.full:
                return Reply(503, error="payments unavailable and the retry queue is full")
            order = Order(order_id, sku, qty, "payment_pending")
        stored = await self._store(order)
        if stored is None:
            return Reply(503, error="db unavailable and the outbox is full")
        if order.status != "paid" and not self.unpaid.put(order):
            self.lost["charges"] += 1  # filled up meanwhile: stays pending (see health)
        await self._publish(order)
        await self._cache_put(order)
        complete = stored and order.status == "paid"
        return Reply(201 if complete else 202, order, source="db" if stored else "outbox")

    async def _store(self, order: Order) -> bool | None:
        """True: in the db. False: in the outbox. None: neither (outbox full)."""
        if not len(self.outbox):  # keep order: never overtake writes already waiting
            try:
                await self._call("db", DB_WRITE, lambda: self.b.db_put(order))
                return True
            except DependencyError:
                pass
        return False if self.outbox.put(order) else None

    async def _publish(self, order: Order) -> None:
        if not len(self.events):
            try:
                await self._call("queue", QUEUE, lambda: self.b.publish(order))
                return
            except DependencyError:
                pass
        if not self.events.put(order):
            self.lost["events"] += 1  # the buffer is full: this event is dropped

    async def drain_once(self) -> None:
        """Flush what the outage left behind, each backlog behind its dependency's breaker."""
        await self.outbox.drain(lambda o: self._call("db", DB_WRITE, lambda: self.b.db_put(o)))
        await self.events.drain(lambda o: self._call("queue", QUEUE, lambda: self.b.publish(o)))
        await self.unpaid.drain(self._settle)

    async def _settle(self, order: Order) -> None:
        payment_id = await self._call(
            "payments", PAYMENTS, lambda: self.b.charge(order.id, order.qty)
        )
        paid = replace(order, status="paid", payment_id=payment_id)
        if await self._store(paid) is None:
            raise DependencyError("db", "outbox full")
        await self._cache_put(paid)

    def health(self) -> dict[str, object]:
        return {
            "outbox": len(self.outbox),
            "queued_events": len(self.events),
            "unpaid": len(self.unpaid),
            "lost": dict(self.lost),
            "breakers": {name: b.state.value for name, b in self.breakers.items()},
        }


def _parse_order(data: object) -> tuple[str, int] | str:
    """``(sku, qty)`` from a request body, or what is wrong with it."""
    if not isinstance(data, dict):
        return "expected a JSON object"
    sku, qty = data.get("sku"), data.get("qty", 1)
    if not isinstance(sku, str) or not 0 < len(sku) <= 64:
        return "sku: expected a string of 1..64 characters"
    if not isinstance(qty, int) or isinstance(qty, bool) or not 0 < qty <= 1000:
        return "qty: expected an integer in 1..1000"
    return sku, qty


class _Service:
    """The application's state and handlers: its dependencies and the request policy."""

    def __init__(self, cfg: ServiceConfig) -> None:
        self.cfg = cfg
        self.backends = Backends(
            db=cfg.db,
            cache=cfg.cache,
            queue=cfg.queue,
            payments=cfg.payments,
            resilient=cfg.resilient,
        )
        self.resilient: ResilientOrders | None = None
        self.orders: Orders
        if cfg.resilient:
            self.resilient = ResilientOrders(self.backends, cfg.cache_ttl_s, random.Random())
            self.orders = self.resilient
        else:
            self.orders = NaiveOrders(self.backends, cfg.cache_ttl_s)
        self.tasks: list[asyncio.Task[None]] = []

    async def warm_cache(self) -> None:
        # Load the seeded orders into the cache once, so that a stale copy exists for the
        # resilient fallback from the first second; bounded attempts, then give up.
        for _ in range(20):
            try:
                for order in await self.backends.db_recent(self.cfg.warm_orders):
                    await self.backends.cache_put(order)
                return
            except Exception:
                await asyncio.sleep(0.5)

    async def drain_forever(self, service: ResilientOrders) -> None:
        while True:
            await service.drain_once()
            await asyncio.sleep(DRAIN_INTERVAL_S)

    async def on_startup(self, app: web.Application) -> None:
        await self.backends.start()
        self.tasks.append(asyncio.create_task(self.warm_cache()))
        if self.resilient is not None:
            self.tasks.append(asyncio.create_task(self.drain_forever(self.resilient)))

    async def on_cleanup(self, app: web.Application) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.backends.close()

    async def get_order(self, request: web.Request) -> web.Response:
        return (await self.orders.get(request.match_info["order_id"])).to_response()

    async def create_order(self, request: web.Request) -> web.Response:
        try:
            parsed = _parse_order(await request.json())
        except ValueError:
            parsed = "body: expected JSON"
        if isinstance(parsed, str):
            return Reply(400, error=parsed).to_response()
        return (await self.orders.create(*parsed)).to_response()

    async def healthz(self, request: web.Request) -> web.Response:
        resilience = "on" if self.cfg.resilient else "off"
        return web.json_response({"status": "ok", "resilience": resilience, **self.orders.health()})


@web.middleware
async def _dependency_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as exc:  # naive mode: any dependency failure fails the request
        error = f"{type(exc).__name__}: {exc}"
        print(f"503 {request.method} {request.path}: {error}", file=sys.stderr)
        return Reply(503, error=error).to_response()


def build_app(cfg: ServiceConfig) -> web.Application:
    """The aiohttp application; dependencies connect lazily when it starts."""
    service = _Service(cfg)
    app = web.Application(middlewares=[_dependency_errors])
    app.router.add_get("/orders/{order_id}", service.get_order)
    app.router.add_post("/orders", service.create_order)
    app.router.add_get("/healthz", service.healthz)
    app.on_startup.append(service.on_startup)
    app.on_cleanup.append(service.on_cleanup)
    return app


async def serve(cfg: ServiceConfig) -> None:
    """Serve until SIGTERM or SIGINT, then stop within about a second."""
    runner = web.AppRunner(build_app(cfg), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, cfg.host, cfg.port, reuse_address=True)
    await site.start()
    mode = "on" if cfg.resilient else "off"
    print(f"order-service ready on {cfg.host}:{cfg.port} (resilience {mode})", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def _address(text: str) -> tuple[str, int]:
    try:
        return split_host_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The Chaos Workbench demo order-service.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    for dep in ("db", "cache", "queue", "payments"):
        parser.add_argument(f"--{dep}", type=_address, required=True, help="host:port (a proxy)")
    parser.add_argument("--resilience", choices=("off", "on"), default="off")
    parser.add_argument("--cache-ttl-s", type=float, default=1.0)
    args = parser.parse_args(argv)
    cfg = ServiceConfig(
        port=args.port,
        host=args.host,
        db=args.db,
        cache=args.cache,
        queue=args.queue,
        payments=args.payments,
        resilient=args.resilience == "on",
        cache_ttl_s=args.cache_ttl_s,
    )
    _run(serve(cfg))
    return 0


def _run(main_coro: Coroutine[None, None, None]) -> None:
    """Run on uvloop when installed (the project's default loop), else on asyncio's."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main_coro)
        return
    uvloop.run(main_coro)


if __name__ == "__main__":
    sys.exit(main())
