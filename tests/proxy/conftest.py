"""Fixtures for the proxy tests: real upstream servers on ephemeral loopback ports."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from chaos_workbench.proxy import ProxyManager


@dataclass
class Upstream:
    host: str
    port: int
    server: asyncio.Server
    connections: list[asyncio.StreamWriter]

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


async def _start(handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> Upstream:
    connections: list[asyncio.StreamWriter] = []

    async def track(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(track, "127.0.0.1", 0, limit=1 << 20)
    port = server.sockets[0].getsockname()[1]
    return Upstream("127.0.0.1", port, server, connections)


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # Bounded: ends at EOF (each read returns b"" then).
    while data := await reader.read(1 << 16):
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


@pytest.fixture
async def echo_upstream() -> AsyncIterator[Upstream]:
    """An echo server: sends back every byte, half-closes after the client's EOF."""
    up = await _start(_echo)
    yield up
    up.server.close()
    for w in up.connections:
        w.close()
    await up.server.wait_closed()


@pytest.fixture
async def manager() -> AsyncIterator[ProxyManager]:
    async with ProxyManager(rng=random.Random(1234)) as mgr:
        yield mgr


async def open_client(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = address.rsplit(":", 1)
    return await asyncio.open_connection(host, int(port), limit=1 << 20)


async def roundtrip_ms(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes = b"ping"
) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    writer.write(payload)
    await writer.drain()
    got = await asyncio.wait_for(reader.readexactly(len(payload)), 10)
    assert got == payload
    return (loop.time() - start) * 1000
