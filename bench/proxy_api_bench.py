"""Control-API figures for ``cwb proxy``: how fast it answers, also under load, and how
accurate the ``latency`` fault is through it.

Runs our server as a child process (``start_proxy_server``, as the engine does), a TCP echo
upstream in this process, and prints:

* API round trips (p50/p99 ms): GET /proxies, POST toxic + DELETE toxic, GET /metrics;
* DELETE of a toxic while 50 connections stream through it (must not hang);
* the ``latency`` fault (100 ms, downstream) measured as echo round trips: median and p99
  of (measured − 100 ms).

Usage: ``.venv/bin/python bench/proxy_api_bench.py [--samples 200]``. Figures on a shared
2-core machine are noisy; compare runs on the same machine only.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections.abc import Awaitable
from pathlib import Path

import httpx

from chaos_workbench.faults.base import FaultContext
from chaos_workbench.faults.latency import Latency, LatencyParams
from chaos_workbench.proxy.client import ToxiproxyClient, start_proxy_server


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed_ms(awaitable: Awaitable[object]) -> float:
    start = time.perf_counter()
    await awaitable
    return (time.perf_counter() - start) * 1000


async def echo_server() -> tuple[asyncio.Server, str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    return server, f"{host}:{port}"


async def stream_forever(host: str, port: int, stop: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    chunk = b"x" * 16384
    while not stop.is_set():
        writer.write(chunk)
        await writer.drain()
        await reader.readexactly(len(chunk))
    writer.close()


async def main(samples: int) -> None:
    echo, upstream = await echo_server()
    handle = await start_proxy_server(seed=1)
    try:
        async with ToxiproxyClient(handle.api_url) as client:
            proxy = await client.create_proxy("db", upstream)
            host, _, port_text = proxy.listen.rpartition(":")
            port = int(port_text)

            index = [await timed_ms(client.proxies()) for _ in range(samples)]
            toggles = []
            for _ in range(samples):
                start = time.perf_counter()
                await client.add_toxic("db", name="t", type="latency", attributes={"latency": 1})
                await client.remove_toxic("db", "t")
                toggles.append((time.perf_counter() - start) * 1000)
            async with httpx.AsyncClient(base_url=handle.api_url, trust_env=False) as http:
                metrics = [await timed_ms(http.get("/metrics")) for _ in range(samples)]
            print(
                f"GET /proxies            p50 {pct(index, 0.5):6.2f} ms  p99 {pct(index, 0.99):6.2f} ms"
            )
            print(
                f"POST+DELETE toxic       p50 {pct(toggles, 0.5):6.2f} ms  p99 {pct(toggles, 0.99):6.2f} ms"
            )
            print(
                f"GET /metrics            p50 {pct(metrics, 0.5):6.2f} ms  p99 {pct(metrics, 0.99):6.2f} ms"
            )

            stop = asyncio.Event()
            streams = [asyncio.create_task(stream_forever(host, port, stop)) for _ in range(50)]
            await asyncio.sleep(0.5)
            removals = []
            for _ in range(20):
                await client.add_toxic("db", name="bw", type="bandwidth", attributes={"rate": 8})
                await asyncio.sleep(0.05)
                removals.append(await timed_ms(client.remove_toxic("db", "bw")))
            stop.set()
            await asyncio.wait_for(asyncio.gather(*streams), 30)
            print(
                f"DELETE toxic, 50 busy connections: p50 {pct(removals, 0.5):.2f} ms, "
                f"max {max(removals):.2f} ms"
            )

            ctx = FaultContext(run_dir=Path("."), rng=random.Random(1), proxies=client)
            fault = Latency(LatencyParams(proxy="db", latency_ms=100), ctx)
            await fault.apply()
            reader, writer = await asyncio.open_connection(host, port)
            errors = []
            for _ in range(min(samples, 100)):
                start = time.perf_counter()
                writer.write(b"ping")
                await reader.readexactly(4)
                errors.append((time.perf_counter() - start) * 1000 - 100)
            writer.close()
            await fault.revert()
            print(
                f"latency fault 100 ms: added error median {statistics.median(errors):+.2f} ms, "
                f"p99 {pct(errors, 0.99):+.2f} ms (echo round trip included)"
            )
    finally:
        await handle.aclose()
        echo.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    asyncio.run(main(parser.parse_args().samples))
