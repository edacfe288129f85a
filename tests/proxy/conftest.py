"""Fixtures for the proxy tests: a real echo upstream and a manager, both on loopback."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable

import pytest

from chaos_workbench.proxy import ProxyManager
from chaos_workbench.proxy.testing import Upstream, serve


@pytest.fixture
async def echo_upstream() -> AsyncIterator[Upstream]:
    """An echo server: sends back every byte, half-closes after the client's EOF."""
    async with serve() as upstream:
        yield upstream


@pytest.fixture
async def manager() -> AsyncIterator[ProxyManager]:
    async with ProxyManager(rng=random.Random(1234)) as mgr:
        yield mgr


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Run every proxy test on the stdlib loop and on uvloop (what ``cwb proxy`` uses)."""
    import uvloop

    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
