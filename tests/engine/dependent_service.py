"""A real HTTP service that needs its dependency at start-up, as most real services do.

``python dependent_service.py --port P --dep HOST:PORT --mode wait|latch``

It calls ``GET http://DEP/`` to check its dependency:

* ``wait``: ``/ready`` answers 503 until a check has succeeded (checks every 100 ms), like
  a readiness probe that pings the database;
* ``latch``: checks once at start; if that check fails, it is broken for good (``/ready``
  and ``/`` answer 503 forever), like a service that caches "dependency missing" at boot.

``GET /`` calls the dependency and answers 200 when it answered, 503 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import ClientSession, ClientTimeout, web


def build_app(dep_url: str, mode: str) -> web.Application:
    state = {"ready": False, "latched_broken": False}
    session: list[ClientSession] = []

    async def dependency_ok() -> bool:
        try:
            async with session[0].get(dep_url) as response:
                return response.status == 200
        except Exception:
            return False

    async def check_until_ready() -> None:
        for _ in range(600):  # bounded: 60 s
            if await dependency_ok():
                state["ready"] = True
                print("dependency answered: ready", flush=True)
                return
            await asyncio.sleep(0.1)

    async def on_startup(app: web.Application) -> None:
        session.append(ClientSession(timeout=ClientTimeout(total=0.5)))
        if mode == "latch":
            if await dependency_ok():
                state["ready"] = True
                print("dependency answered at start: ready", flush=True)
            else:
                state["latched_broken"] = True
                print("dependency missing at start: broken for good", flush=True)
        else:
            app["checker"] = asyncio.create_task(check_until_ready())

    async def on_cleanup(app: web.Application) -> None:
        if "checker" in app:
            app["checker"].cancel()
        await session[0].close()

    async def ready(request: web.Request) -> web.Response:
        ok = state["ready"] and not state["latched_broken"]
        return web.Response(status=200 if ok else 503)

    async def root(request: web.Request) -> web.Response:
        if state["latched_broken"] or not state["ready"]:
            return web.Response(status=503, text="not ready")
        return web.Response(status=200 if await dependency_ok() else 503)

    app = web.Application()
    app.router.add_get("/ready", ready)
    app.router.add_get("/", root)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dep", required=True)
    parser.add_argument("--mode", choices=["wait", "latch"], default="wait")
    args = parser.parse_args()
    web.run_app(
        build_app(f"http://{args.dep}/", args.mode),
        host="127.0.0.1",
        port=args.port,
        print=None,
        access_log=None,
    )


if __name__ == "__main__":
    main()
