"""Fixtures: our API server in-process (same event loop as the test) or as a child process,
and real upstreams (TCP echo) on ephemeral loopback ports."""

from __future__ import annotations

import random
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for proxy_api_helpers (importlib mode)

from proxy_api_helpers import UA, Api, Echo, ServerProcess, spawn_server, stop_server

from chaos_workbench.proxy.api import ApiServer
from chaos_workbench.proxy.manager import ProxyManager
from chaos_workbench.proxy.testing import serve


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    """Our API in this test's event loop, on an ephemeral port."""
    manager = ProxyManager(rng=random.Random(7))
    server = ApiServer(manager, host="127.0.0.1", port=0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, headers=UA, trust_env=False) as http:
            yield Api(server.url, manager, http, server)
    finally:
        await server.aclose()
        await manager.aclose()


@pytest.fixture
async def echo() -> AsyncIterator[Echo]:
    """A TCP echo server: sends back every byte until the client half-closes."""
    async with serve() as upstream:
        yield Echo(upstream.host, upstream.port)


@pytest.fixture(scope="module")
def server_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One ``cwb proxy serve`` child for a whole test module."""
    server = spawn_server(tmp_path_factory.mktemp("proxy-server"), "--seed", "11")
    try:
        yield server
    finally:
        stop_server(server.process)
