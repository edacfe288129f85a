"""The demo's ``payments``: a small real HTTP service the order-service charges orders with.

    python -m chaos_workbench.demo.payments --port 18081

``POST /charge`` with ``{"order_id": str, "amount_cents": int}`` answers 200 with
``{"id": "ch_...", "order_id": ..., "amount_cents": ...}``. Charges are idempotent per
order id (a retried charge returns the first charge), as a payment API must be for its
callers to retry safely. ``GET /healthz`` answers 200. SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import uuid
from collections import OrderedDict
from collections.abc import Sequence

from aiohttp import web

__all__ = ["build_app", "main"]

MAX_REMEMBERED_CHARGES = 100_000  # idempotency memory, bounded (oldest forgotten first)


def build_app() -> web.Application:
    charges: OrderedDict[str, str] = OrderedDict()

    async def charge(request: web.Request) -> web.Response:
        try:
            data = await request.json()
        except ValueError:
            return web.json_response({"error": "body: expected JSON"}, status=400)
        order_id = data.get("order_id") if isinstance(data, dict) else None
        amount = data.get("amount_cents") if isinstance(data, dict) else None
        if not isinstance(order_id, str) or not order_id:
            return web.json_response({"error": "order_id: expected a string"}, status=400)
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            return web.json_response(
                {"error": "amount_cents: expected a positive integer"}, status=400
            )
        charge_id = charges.get(order_id)
        if charge_id is None:
            charge_id = f"ch_{uuid.uuid4().hex[:16]}"
            charges[order_id] = charge_id
            while len(charges) > MAX_REMEMBERED_CHARGES:
                charges.popitem(last=False)
        return web.json_response({"id": charge_id, "order_id": order_id, "amount_cents": amount})

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "charges": len(charges)})

    app = web.Application()
    app.router.add_post("/charge", charge)
    app.router.add_get("/healthz", healthz)
    return app


async def serve(host: str, port: int) -> None:
    runner = web.AppRunner(build_app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    print(f"payments ready on {host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
