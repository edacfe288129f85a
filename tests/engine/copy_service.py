"""A real HTTP service started once per copy in the parallel-run tests.

``python copy_service.py --port P --data DIR [--burn-ms N]``

It binds ``127.0.0.1:P`` (a ``${port:svc}`` placeholder in the suite), writes its port and
pid into ``DIR/identity`` (``${copy_dir}/data``: each copy's own directory), and serves
``GET /`` (200, or 503 while failing; ``--burn-ms`` spins the CPU that long per request, so
that a busy host shows in its latency), ``POST /admin/fail`` and
``POST /admin/recover?delay_ms=N`` (keep failing N ms more: a known recovery delay).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

from aiohttp import web


def build_app(burn_ms: float) -> web.Application:
    state = {"failing": False, "failing_until": 0.0}

    async def root(request: web.Request) -> web.Response:
        if state["failing"] or time.monotonic() < state["failing_until"]:
            return web.Response(status=503, text="failing")
        until = time.thread_time() + burn_ms / 1e3  # CPU time: a busy host stretches it
        while time.thread_time() < until:
            pass
        return web.Response(text="ok")

    async def fail(request: web.Request) -> web.Response:
        state["failing"] = True
        return web.Response(text="failing")

    async def recover(request: web.Request) -> web.Response:
        state["failing"] = False
        state["failing_until"] = time.monotonic() + float(request.query["delay_ms"]) / 1e3
        return web.Response(text="recovering")

    app = web.Application()
    app.router.add_get("/", root)
    app.router.add_post("/admin/fail", fail)
    app.router.add_post("/admin/recover", recover)
    return app


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--burn-ms", type=float, default=0.0)
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    (args.data / "identity").write_text(f"{args.port} {os.getpid()}\n")
    runner = web.AppRunner(build_app(args.burn_ms), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
