"""A real HTTP/1.1 test server on an ephemeral loopback port, whose misbehaviour the path picks.

``/ok`` 200 · ``/404`` · ``/503`` · ``/reset`` (RST after reading the request) · ``/silent``
(never answers) · ``/garbage`` (not HTTP) · ``/slow`` (200 after 50 ms) · ``/close`` (200 with ``Connection: close``) ·
``/stall`` (200, but held while ``server.stall_until_ns`` is in the future).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import time
from collections.abc import AsyncIterator

import pytest


class _ServerConn(asyncio.Protocol):
    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's are not subclasses
        self.server.connections += 1
        self.server.transports.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.server.transports.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(rest) < length:
                return
            body, self.buffer = rest[:length], rest[length:]
            request_line = head.split(b"\r\n")[0].decode()
            self.server.requests.append((request_line, body))
            asyncio.get_running_loop().create_task(self.answer(request_line.split()[1]))

    async def answer(self, path: str) -> None:
        assert self.transport is not None
        transport = self.transport
        if path.startswith("/slow"):
            await asyncio.sleep(0.05)
        if path.startswith("/stall"):
            while time.monotonic_ns() < self.server.stall_until_ns:
                await asyncio.sleep(0.001)
        if path.startswith("/reset"):
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        elif path.startswith("/silent"):
            return
        elif path.startswith("/garbage"):
            transport.write(b"THIS IS NOT HTTP AT ALL\r\n\r\n")
        else:
            status = {"/404": "404 Not Found", "/503": "503 Service Unavailable"}.get(
                path, "200 OK"
            )
            close = path.startswith("/close")
            extra = b"Connection: close\r\n" if close else b""
            transport.write(
                f"HTTP/1.1 {status}\r\nContent-Length: 5\r\n".encode() + extra + b"\r\nhello"
            )
            if close:
                transport.close()


class TestServer:
    """Start with ``await server.start()``; ``url`` is its base URL."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes]] = []
        self.connections = 0
        self.transports: set[asyncio.Transport] = set()
        self.stall_until_ns = 0
        self._server: asyncio.Server | None = None
        self.port = 0
        self.scheme = "http"

    async def start(self, ssl_context: ssl.SSLContext | None = None) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _ServerConn(self), "127.0.0.1", 0, ssl=ssl_context
        )
        self.scheme = "https" if ssl_context else "http"
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for transport in list(self.transports):
                transport.abort()
            await self._server.wait_closed()


@pytest.fixture
async def http_server() -> AsyncIterator[TestServer]:
    server = TestServer()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server_class() -> type[TestServer]:
    """The server class itself, for tests that run their own event loop (uvloop)."""
    return TestServer


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 (cert path, key path), made by openssl."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed: cannot make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return str(cert), str(key)
