"""Test helpers for the proxy and its toxics (like Toxiproxy's ``testhelper``): real
upstream servers on ephemeral loopback ports and small client helpers. Used by the proxy's
tests, the HTTP toxics' tests and the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from chaos_workbench.host.address import split_host_port

__all__ = ["Upstream", "echo_handler", "open_client", "roundtrip_ms", "serve"]

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
_LIMIT = 1 << 20


@dataclass
class Upstream:
    """A running loopback server."""

    host: str
    port: int
    server: asyncio.Server
    connections: list[asyncio.StreamWriter] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def aclose(self) -> None:
        self.server.close()
        for writer in self.connections:
            writer.close()
        # Wait for each transport to be gone: uvloop cannot close a loop that still holds
        # one ("Device or resource busy"), and the test would fail on a ResourceWarning.
        for writer in self.connections:
            with contextlib.suppress(ConnectionError, OSError, RuntimeError):
                await asyncio.wait_for(writer.wait_closed(), 5)
        await self.server.wait_closed()


async def echo_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send back every byte; half-close after the client's EOF."""
    while data := await reader.read(1 << 16):  # bounded: ends at EOF
        writer.write(data)
        await writer.drain()
    if writer.can_write_eof() and not writer.is_closing():  # the peer may have reset it
        writer.write_eof()


@contextlib.asynccontextmanager
async def serve(handler: Handler = echo_handler) -> AsyncIterator[Upstream]:
    """Run ``handler`` for each connection on 127.0.0.1, an ephemeral port."""
    upstream: Upstream | None = None

    async def track(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert upstream is not None
        upstream.connections.append(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away: the normal end of many tests
        finally:
            writer.close()

    server = await asyncio.start_server(track, "127.0.0.1", 0, limit=_LIMIT)
    upstream = Upstream("127.0.0.1", int(server.sockets[0].getsockname()[1]), server)
    try:
        yield upstream
    finally:
        await upstream.aclose()


async def open_client(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to ``host:port``."""
    host, port = split_host_port(address)
    return await asyncio.open_connection(host, port, limit=_LIMIT)


async def roundtrip_ms(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes = b"ping"
) -> float:
    """Send ``payload`` to an echo upstream and time until it is all back (ms)."""
    start = time.perf_counter()  # not loop.time(): uvloop's is millisecond-granular
    writer.write(payload)
    await writer.drain()
    got = await asyncio.wait_for(reader.readexactly(len(payload)), 10)
    if got != payload:
        raise AssertionError("echo returned different bytes")
    return (time.perf_counter() - start) * 1000
