"""Fixtures: our proxy server in-process with a real API client, real upstreams (TCP echo,
HTTP) on ephemeral loopback ports, and a FaultContext wired to them."""

from __future__ import annotations

import random
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

sys.path.insert(0, str(Path(__file__).parent))  # for faults_network_helpers (importlib mode)

from faults_network_helpers import HttpUpstream, Rig

from chaos_workbench.faults.base import FaultContext
from chaos_workbench.proxy.api import ApiServer
from chaos_workbench.proxy.client import ToxiproxyClient
from chaos_workbench.proxy.manager import ProxyManager
from chaos_workbench.proxy.testing import serve


@pytest.fixture
async def echo_address() -> AsyncIterator[str]:
    """A TCP echo server on loopback (the proxy tests' own); yields ``host:port``."""
    async with serve() as upstream:
        yield upstream.address


@pytest.fixture
async def http_upstream() -> AsyncIterator[HttpUpstream]:
    upstream = HttpUpstream()

    async def any_path(request: web.Request) -> web.Response:
        upstream.hits += 1
        return web.Response(text=f"ok {request.method} {request.path}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", any_path)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    upstream.address = f"{host}:{port}"
    try:
        yield upstream
    finally:
        await runner.cleanup()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    manager = ProxyManager(rng=random.Random(3))
    server = ApiServer(manager, host="127.0.0.1", port=0)
    await server.start()
    client = ToxiproxyClient(server.url)
    ctx = FaultContext(run_dir=tmp_path, rng=random.Random(5), proxies=client)
    try:
        yield Rig(client=client, ctx=ctx, manager=manager)
    finally:
        await client.aclose()
        await server.aclose()
        await manager.aclose()
