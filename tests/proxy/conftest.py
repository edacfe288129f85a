"""Fixtures for the proxy tests: a real echo upstream and a manager, both on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from chaos_workbench.proxy import ProxyManager
from chaos_workbench.proxy.testing import Upstream, open_client, serve

Client = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
async def echo_upstream() -> AsyncIterator[Upstream]:
    """An echo server: sends back every byte, half-closes after the client's EOF."""
    async with serve() as upstream:
        yield upstream


@pytest.fixture
async def manager() -> AsyncIterator[ProxyManager]:
    async with ProxyManager(rng=random.Random(1234)) as mgr:
        yield mgr


@pytest.fixture
async def connect() -> AsyncIterator[Callable[[str], Awaitable[Client]]]:
    """``open_client`` whose connections are closed at teardown, even after a failed assert
    (an unclosed transport would otherwise fail the next test with a ResourceWarning)."""
    writers: list[asyncio.StreamWriter] = []

    async def open_(address: str) -> Client:
        reader, writer = await open_client(address)
        writers.append(writer)
        return reader, writer

    yield open_
    for writer in writers:
        writer.close()
    for writer in writers:
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Run every proxy test on the stdlib loop and on uvloop (what ``cwb proxy`` uses)."""
    import uvloop

    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
