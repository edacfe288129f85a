"""A real HTTP service for engine tests, whose failure and recovery delay tests control.

Run as a script: it binds 127.0.0.1 on an ephemeral port, prints the port, and serves
``GET /`` (200, or 503 while failing), ``POST /admin/fail`` and
``POST /admin/recover?delay_ms=N`` (keep failing N ms more, then serve again). An optional
``--fail-first-ms`` makes it start unhealthy (for the inconclusive-baseline test).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from aiohttp import web


def build_app(fail_first_ms: float) -> web.Application:
    state = {"failing_until": time.monotonic() + fail_first_ms / 1e3, "failing": False}

    def failing() -> bool:
        return bool(state["failing"]) or time.monotonic() < state["failing_until"]

    async def root(request: web.Request) -> web.Response:
        if failing():
            return web.Response(status=503, text="failing")
        return web.Response(text="ok")

    async def fail(request: web.Request) -> web.Response:
        state["failing"] = True
        return web.Response(text="failing")

    async def recover(request: web.Request) -> web.Response:
        delay_ms = float(request.query.get("delay_ms", "0"))
        state["failing"] = False
        state["failing_until"] = time.monotonic() + delay_ms / 1e3
        return web.Response(text="recovering")

    app = web.Application()
    app.router.add_get("/", root)
    app.router.add_post("/admin/fail", fail)
    app.router.add_post("/admin/recover", recover)
    return app


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fail-first-ms", type=float, default=0.0)
    args = parser.parse_args()
    runner = web.AppRunner(build_app(args.fail_first_ms), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(port, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
