"""Traffic that is not HTTP/1.x passes through HTTP toxics untouched, and is counted."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from chaos_workbench.proxy.http import http_traffic_stats


class _Echo(asyncio.Protocol):
    def __init__(self, banner: bytes) -> None:
        self.banner = banner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: a cast, not a check.
        transport = cast("asyncio.Transport", transport)
        self.transport = transport
        if self.banner:
            transport.write(self.banner)

    def data_received(self, data: bytes) -> None:
        self.transport.write(data)


@pytest.fixture
async def echo_proxy(proxied: Any) -> AsyncIterator[Any]:
    """Returns (make proxy to an echo server with an optional banner) -> port."""
    servers: list[asyncio.Server] = []

    async def make(banner: bytes = b"") -> int:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Echo(banner), "127.0.0.1", 0)
        servers.append(server)
        name = f"echo{len(servers)}"
        port = server.sockets[0].getsockname()[1]
        info = await proxied.manager.create(name, "127.0.0.1:0", f"127.0.0.1:{port}")
        from chaos_workbench.proxy.models import ToxicSpec

        for t in ("http_error", "http_abort", "http_latency"):
            attributes = {"latency_ms": 500} if t == "http_latency" else {}
            proxied.manager.add_toxic(name, ToxicSpec(type=t, attributes=attributes))
        return int(info.listen.rsplit(":", 1)[1])

    yield make
    for s in servers:
        s.close()
        await s.wait_closed()


async def _roundtrip(port: int, payload: bytes, expect: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    data = await asyncio.wait_for(reader.readexactly(expect), 5)
    writer.close()
    await writer.wait_closed()
    return data


async def test_binary_protocol_passes_untouched_and_is_counted(echo_proxy: Any) -> None:
    port = await echo_proxy()
    before = http_traffic_stats()
    payload = b"\x16\x03\x01" + os.urandom(50_000)  # looks like TLS, then noise
    assert await _roundtrip(port, payload, len(payload)) == payload
    after = http_traffic_stats()
    assert after.non_http_connections == before.non_http_connections + 1
    assert after.non_http_bytes - before.non_http_bytes == 2 * len(payload)


async def test_line_protocol_that_looks_like_a_method_is_not_held(echo_proxy: Any) -> None:
    port = await echo_proxy()
    # "PING x" starts like a request line; it must be released at its line end, not held
    # waiting for an HTTP head that never comes (or delayed by http_latency).
    assert await _roundtrip(port, b"PING x\r\n", 8) == b"PING x\r\n"


async def test_server_that_talks_first(echo_proxy: Any) -> None:
    port = await echo_proxy(banner=b"220 smtp.example ESMTP\r\n")
    before = http_traffic_stats().non_http_connections
    got = await _roundtrip(port, b"EHLO me\r\n", 24 + 9)
    assert got == b"220 smtp.example ESMTP\r\nEHLO me\r\n"
    assert http_traffic_stats().non_http_connections == before + 1


async def test_http_traffic_is_not_counted(proxied: Any, client: Any) -> None:
    proxied.add("http_header", add={"X": "1"})
    before = http_traffic_stats()
    await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await client.response())[0] == 200
    assert http_traffic_stats() == before


async def test_counters_are_exported_for_prometheus(echo_proxy: Any) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from chaos_workbench.proxy.http import HttpTrafficCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(HttpTrafficCollector())
    port = await echo_proxy()
    await _roundtrip(port, b"\x00\x01binary", 8)
    text = generate_latest(registry).decode()
    stats = http_traffic_stats()
    assert (
        f"cwb_proxy_http_passthrough_connections_total {float(stats.non_http_connections)}" in text
    )
    assert f"cwb_proxy_http_passthrough_bytes_total {float(stats.non_http_bytes)}" in text
    assert stats.non_http_connections >= 1
