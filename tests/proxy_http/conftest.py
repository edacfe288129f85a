"""Fixtures: a real HTTP/1.1 upstream on an ephemeral loopback port, our proxy in front.

The upstream is a small asyncio server (httptools for parsing) rather than aiohttp.web
because the tests must see the *raw bytes* it received (to prove byte-exact forwarding and
that a swallowed request never arrived) and must control framing exactly (chunked
responses, HEAD, 100-continue, a response that is slow to come).

Routes (any method):
    /chunked/<n>   200, chunked body of n chunks "chunk-i\\n"
    /size/<n>      200, n bytes of b"x" with Content-Length
    /slow/<ms>     200 after <ms> milliseconds
    anything else  200, body "<METHOD> <path> <request body length>"
``Expect: 100-continue`` gets an interim ``100 Continue`` first. Responses carry
``X-Seq: <n>`` (requests served on that connection so far) for ordering checks.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import httptools
import pytest

from chaos_workbench.proxy.manager import ProxyManager
from chaos_workbench.proxy.models import ToxicSpec


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Run every test on the stdlib loop and on uvloop (what ``cwb proxy`` uses)."""
    import uvloop

    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Upstream:
    port: int
    requests: list[Seen] = field(default_factory=list)
    raw: list[bytearray] = field(default_factory=list)  # per connection, bytes received

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def raw_bytes(self) -> bytes:
        return b"".join(bytes(r) for r in self.raw)


class _Conn(asyncio.Protocol):
    def __init__(self, up: Upstream) -> None:
        self.up = up
        self.raw = bytearray()
        up.raw.append(self.raw)
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body = bytearray()
        self.seq = 0
        self.queue: asyncio.Queue[tuple[str, str, dict[str, str], bytes] | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: a cast, not a check.
        transport = cast("asyncio.Transport", transport)
        self.transport = transport
        self.task = asyncio.get_running_loop().create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        self.raw += data
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.queue.put_nowait(None)

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url, self.headers, self.body = b"", {}, bytearray()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode().lower()] = value.decode()

    def on_headers_complete(self) -> None:
        if self.headers.get("expect", "").lower() == "100-continue":
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode()
        path = self.url.decode()
        self.up.requests.append(Seen(method, path, self.headers, bytes(self.body)))
        self.queue.put_nowait((method, path, self.headers, bytes(self.body)))

    async def _serve(self) -> None:
        # Responses are written in request order (one at a time), as HTTP/1.1 requires.
        for _ in range(100_000):
            item = await self.queue.get()
            if item is None or self.transport is None or self.transport.is_closing():
                return
            method, path, headers, body = item
            self.seq += 1
            await self._respond(method, path, headers, body)

    async def _respond(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        assert self.transport is not None
        parts = path.split("?")[0].split("/")
        extra = f"X-Seq: {self.seq}\r\n"
        if headers.get("connection", "").lower() == "close":
            extra += "Connection: close\r\n"
        if len(parts) == 3 and parts[1] == "slow":
            await asyncio.sleep(int(parts[2]) / 1000)
        if len(parts) == 3 and parts[1] == "chunked":
            out = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + extra.encode() + b"\r\n"
            if method != "HEAD":
                for i in range(int(parts[2])):
                    data = f"chunk-{i}\n".encode()
                    out += f"{len(data):x}\r\n".encode() + data + b"\r\n"
                out += b"0\r\n\r\n"
            self.transport.write(out)
        else:
            if len(parts) == 3 and parts[1] == "size":
                payload = b"x" * int(parts[2])
            else:
                payload = f"{method} {path} {len(body)}".encode()
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(payload)}\r\n{extra}\r\n".encode()
            self.transport.write(head if method == "HEAD" else head + payload)
        if "Connection: close" in extra:
            self.transport.close()


@pytest.fixture
async def upstream() -> AsyncIterator[Upstream]:
    up = Upstream(port=0)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Conn(up), "127.0.0.1", 0)
    up.port = server.sockets[0].getsockname()[1]
    yield up
    server.close()
    await server.wait_closed()


@dataclass
class Proxied:
    manager: ProxyManager
    name: str
    port: int

    def add(self, type_: str, **attributes: object) -> None:
        stream = str(attributes.pop("stream", "downstream"))
        name = attributes.pop("name", None)
        toxicity = attributes.pop("toxicity", 1.0)
        assert isinstance(toxicity, float)
        self.manager.add_toxic(
            self.name,
            ToxicSpec.model_validate(
                {
                    "type": type_,
                    "name": name,
                    "stream": stream,
                    "toxicity": toxicity,
                    "attributes": attributes,
                }
            ),
        )

    def count(self, toxic: str) -> int:
        for stats in self.manager.stats():
            for c in stats.toxic_actions:
                if c.toxic == toxic:
                    return c.count
        raise KeyError(toxic)


@pytest.fixture
async def proxied(upstream: Upstream) -> AsyncIterator[Proxied]:
    async with ProxyManager(rng=random.Random(1234)) as manager:
        info = await manager.create("web", "127.0.0.1:0", upstream.address)
        yield Proxied(manager, "web", int(info.listen.rsplit(":", 1)[1]))


class RawClient:
    """A raw-socket HTTP client (pipelining, byte-exact checks, seeing resets).

    It reads with ``sock_recv`` on a plain socket rather than a StreamReader, because a
    StreamReader drops the bytes it buffered when a reset arrives, and the abort tests must
    count exactly the bytes that came before the RST.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.loop = asyncio.get_running_loop()

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        return cls(sock)

    async def send(self, data: bytes) -> None:
        await self.loop.sock_sendall(self.sock, data)

    async def _fill(self, deadline: float) -> bool:
        """Read once more into the buffer; False at EOF. Raises on reset or timeout."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no data in time")
        chunk = await asyncio.wait_for(self.loop.sock_recv(self.sock, 65536), left)
        self.buf += chunk
        return bool(chunk)

    async def _until(self, sep: bytes, deadline: float) -> bytes:
        for _ in range(1_000_000):
            i = self.buf.find(sep)
            if i >= 0:
                out = bytes(self.buf[: i + len(sep)])
                del self.buf[: i + len(sep)]
                return out
            if not await self._fill(deadline):
                raise EOFError("closed before a complete message")
        raise AssertionError("unreachable")

    async def _exactly(self, n: int, deadline: float) -> bytes:
        for _ in range(1_000_000):
            if len(self.buf) >= n:
                out = bytes(self.buf[:n])
                del self.buf[:n]
                return out
            if not await self._fill(deadline):
                raise EOFError("closed before a complete message")
        raise AssertionError("unreachable")

    async def response(
        self, *, head: bool = False, timeout_s: float = 5.0
    ) -> tuple[int, dict[str, str], bytes, bytes]:
        """One response: (status, headers lower-cased, de-chunked body, raw bytes).

        ``head``: the response answers a HEAD request (no body whatever the headers say).
        """
        deadline = time.monotonic() + timeout_s
        raw = bytearray(await self._until(b"\r\n\r\n", deadline))
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                n, v = line.split(":", 1)
                headers[n.strip().lower()] = v.strip()
        body = bytearray()
        if 100 <= status < 200 or status in (204, 304) or head:
            return status, headers, b"", bytes(raw)
        if headers.get("transfer-encoding") == "chunked":
            for _ in range(100_000):
                line = await self._until(b"\r\n", deadline)
                raw += line
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    raw += await self._until(b"\r\n", deadline)  # no trailers here
                    break
                data = await self._exactly(size + 2, deadline)
                raw += data
                body += data[:-2]
        elif "content-length" in headers:
            data = await self._exactly(int(headers["content-length"]), deadline)
            raw += data
            body += data
        return status, headers, bytes(body), bytes(raw)

    async def read_until_closed(self, timeout_s: float = 5.0) -> tuple[bytes, bool]:
        """Everything until EOF; (data, reset) where reset says the peer sent an RST."""
        deadline = time.monotonic() + timeout_s
        reset = False
        try:
            for _ in range(1_000_000):
                if not await self._fill(deadline):
                    break
        except ConnectionResetError:
            reset = True
        data = bytes(self.buf)
        self.buf.clear()
        return data, reset

    async def aclose(self) -> None:
        self.sock.close()


@pytest.fixture
async def client(proxied: Proxied) -> AsyncIterator[RawClient]:
    c = await RawClient.connect(proxied.port)
    yield c
    await c.aclose()


async def wait_for(cond: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll ``cond`` until it holds (a deadline, never a bare sleep)."""
    deadline = time.monotonic() + timeout_s
    for _ in range(100_000):
        if cond():
            return
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.005)


@pytest.fixture
def poll() -> Callable[..., Any]:
    return wait_for


@pytest.fixture
async def connect(proxied: Proxied) -> AsyncIterator[Callable[[], Any]]:
    """A factory of raw clients to the proxy (closed at the end of the test)."""
    opened: list[RawClient] = []

    async def make() -> RawClient:
        c = await RawClient.connect(proxied.port)
        opened.append(c)
        return c

    yield make
    for c in opened:
        await c.aclose()
