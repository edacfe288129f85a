"""Large and awkward bodies keep their bytes; a closed connection leaves no HTTP state."""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Any, cast

from chaos_workbench.proxy.http import _toxic


async def test_large_bodies_both_ways_are_intact(proxied: Any, upstream: Any, client: Any) -> None:
    proxied.add("http_header", add={"X-Seen": "1"})
    proxied.add("http_latency", name="lat", path="/never")
    body = os.urandom(3_000_000)
    await client.send(b"POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
    for i in range(0, len(body), 100_000):
        await client.send(body[i : i + 100_000])
    status, headers, got, _ = await client.response(timeout_s=20)
    assert (status, got, headers["x-seen"]) == (200, b"POST /big 3000000", "1")
    assert hashlib.sha256(upstream.requests[0].body).digest() == hashlib.sha256(body).digest()
    await client.send(b"GET /size/4000000 HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, got, _ = await client.response(timeout_s=20)
    assert (status, len(got), set(got)) == (200, 4_000_000, {ord("x")})


async def test_connection_state_is_released(proxied: Any, connect: Any, poll: Any) -> None:
    proxied.add("http_error", path="/x")
    c = await connect()
    await c.send(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await c.response())[0] == 503
    assert len(_toxic._CONNS) == 1
    await c.aclose()
    await poll(lambda: not _toxic._CONNS)


async def test_upgrade_becomes_a_tunnel_and_is_not_counted(proxied: Any) -> None:
    from chaos_workbench.proxy.http import http_traffic_stats
    from chaos_workbench.proxy.models import ToxicSpec

    class Upgrading(asyncio.Protocol):
        upgraded = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            # uvloop's transports are not asyncio.Transport subclasses: a cast, not a check.
            self.t = cast("asyncio.Transport", transport)

        def data_received(self, data: bytes) -> None:
            if self.upgraded:
                self.t.write(data[::-1])  # the "new protocol": reverse each chunk
            elif data.endswith(b"\r\n\r\n"):
                self.upgraded = True
                self.t.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: rev\r\n\r\n")

    loop = asyncio.get_running_loop()
    server = await loop.create_server(Upgrading, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    info = await proxied.manager.create("up", "127.0.0.1:0", f"127.0.0.1:{port}")
    proxied.manager.add_toxic("up", ToxicSpec(type="http_header", attributes={"add": {"X": "1"}}))
    # Would answer the HTTP-looking bytes inside the tunnel if they were framed as HTTP.
    proxied.manager.add_toxic("up", ToxicSpec(type="http_error", attributes={"path": "/"}))
    before = http_traffic_stats()
    reader, writer = await asyncio.open_connection("127.0.0.1", int(info.listen.split(":")[1]))
    writer.write(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: rev\r\nConnection: upgrade\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101 ")
    assert b"X: 1\r\n" in head  # the 101 is a final response: edited like one
    writer.write(b"GET / HTTP/1.1\r\n\r\n")  # HTTP-looking bytes inside the tunnel: opaque
    assert await asyncio.wait_for(reader.readexactly(18), 5) == b"\n\r\n\r1.1/PTTH / TEG"
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    assert http_traffic_stats() == before
