"""The control API's connections: accepted, timed and counted so no client can starve it.

aiohttp serves the API's requests; this module sits between the socket and aiohttp's
protocol for what aiohttp has no setting for. Found by fuzzing: 300 clients sending their
headers a byte at a time stayed connected for good, and 1,100 of them under a 1,024-
descriptor limit left the API unable to accept anyone. Toxiproxy's Go server has the
first defence built in; we give each its value (``chaos_workbench.limits``).

* **Read deadline** (Toxiproxy's ``ReadTimeout``, 15 s): a request must arrive whole, head
  and body, within the deadline of its first byte (the first request of a connection: of
  the accept), else the connection is closed. The deadline ends when aiohttp has read the
  body; a handler's own time is bounded separately (25 s, ``api.REQUEST_DEADLINE_S``). An
  idle keep-alive connection is aiohttp's to close (``keepalive_timeout``, Toxiproxy's
  ``IdleTimeout``).
* **Connection cap** (a quarter of ``RLIMIT_NOFILE``, at most 1,024): accepting one more
  connection at the cap first closes the oldest idle one, else the oldest still sending its
  request; one whose request is read and running is never closed. If all are running, the
  new connection is closed at once. A flood of slow clients thus costs a bounded number of
  descriptors, and a new client (the newest connection) is always served.
* **Accept loop and backlog**: connections are accepted one at a time (asyncio's server
  accepts a whole burst, up to its backlog, before any code can refuse one, which is how
  1,100 connections ran the process out of descriptors), from a listen queue of
  ``API_LISTEN_BACKLOG`` where a burst waits without costing descriptors.
* **Unknown methods**: aiohttp's parser (llhttp) knows a fixed list of methods and answers
  400 to any other (``BREW``, ``get``); Go accepts any token and its router answers 405 (a
  known path) or 404. A request line whose method is a token outside the standard methods
  is handed to aiohttp with a stand-in method no route serves (``PROPFIND``), so the router
  answers 405 or 404 as Toxiproxy does. Only where a request is known to begin: the first
  bytes of a connection, and the byte after a request whose length (head up to its blank
  line, plus ``Content-Length``) was read exactly. A connection that pipelines or sends a
  chunked body is passed through untouched from then on (aiohttp answers 400 as before).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from typing import cast

from aiohttp import web

from chaos_workbench.limits import API_LISTEN_BACKLOG

__all__ = ["ConnectionGuard", "GuardedSite", "bind_listener"]

_log = logging.getLogger(__name__)

# Methods llhttp parses that may reach a route; any other token gets the stand-in.
_PASSED_METHODS = frozenset(
    {b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"TRACE", b"PATCH", b"CONNECT"}
)
_STAND_IN = b"PROPFIND"  # llhttp parses it, no route of the API serves it
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token (a method)
_MAX_METHOD_BYTES = 64  # a longer "method" is passed through, for aiohttp to refuse
_OUT_OF_DESCRIPTORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_ACCEPT_RETRY_S = 0.1  # pause after running out of descriptors (asyncio's server: 1 s)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ConnectionGuard:
    """The API's open connections, their read deadlines and the cap on their number."""

    def __init__(self, *, read_timeout_s: float, max_connections: int) -> None:
        if read_timeout_s <= 0 or max_connections < 1:
            raise ValueError("read_timeout_s must be > 0 and max_connections >= 1")
        self.read_timeout_s = read_timeout_s
        self.max_connections = max_connections
        self._open: dict[_Connection, None] = {}  # in accept order: the oldest first
        self._by_transport: dict[asyncio.BaseTransport, _Connection] = {}
        # What it did, for tests and diagnostics.
        self.timed_out = 0  # closed by the read deadline
        self.evicted = 0  # closed to make room for a newer connection
        self.refused = 0  # closed at once: every open connection was running a request
        self.heads_read = 0  # requests whose head aiohttp has read

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def connection(self, inner: asyncio.Protocol) -> asyncio.Protocol:
        """The protocol to give a new connection, wrapping aiohttp's ``inner``."""
        return _Connection(self, inner)

    def make_room(self) -> bool:
        """Before accepting: close connections down to one below the cap; False if the
        new one must be refused (every open connection is running a request)."""
        while len(self._open) >= self.max_connections:
            if not self.close_oldest_waiting():
                self.refused += 1
                return False
        return True

    def close_oldest_waiting(self) -> bool:
        """Close the oldest idle connection, else the oldest still sending a request;
        False if there is none (every open connection is running a request)."""
        victim = self._oldest(idle=True) or self._oldest(idle=False)
        if victim is None:
            return False
        self.evicted += 1
        self._forget(victim)
        victim.close()
        return True

    def close_waiting(self) -> None:
        """Close every connection not running a request (at shutdown: the rest finish)."""
        for conn in [c for c in self._open if not c.running]:
            self._forget(conn)
            conn.close()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Tells each connection when its request's head is read and when it is answered."""
        conn = self._by_transport.get(request.transport) if request.transport else None
        self.heads_read += 1
        if conn is None:
            return await handler(request)
        conn.request_started(request)
        try:
            return await handler(request)
        finally:
            conn.request_finished()

    def _oldest(self, *, idle: bool) -> _Connection | None:
        # idle: between requests; else: still sending one (the head or the body).
        for conn in self._open:
            if not conn.running and conn.reading != idle:
                return conn
        return None

    def _opened(self, conn: _Connection, transport: asyncio.BaseTransport) -> None:
        self._open[conn] = None
        self._by_transport[transport] = conn

    def _forget(self, conn: _Connection) -> None:
        self._open.pop(conn, None)
        if conn.transport is not None:
            self._by_transport.pop(conn.transport, None)


class _Connection(asyncio.Protocol):
    """One API connection: passes bytes to aiohttp's protocol, keeps the read deadline,
    and screens request lines for unknown methods (see the module docstring)."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self.transport: asyncio.Transport | None = None
        self.reading = False  # a request is being received: the deadline runs
        self.running = False  # its handler runs (the request was read whole)
        self._handling = False  # the middleware is between its start and end
        self._timer: asyncio.TimerHandle | None = None
        # Request-line screening, on exact request boundaries only.
        self._screening = True
        self._at_start = True  # the next byte received begins a request
        self._held = b""  # the first bytes of a request line, until its method is known
        self._seen = 0  # bytes received
        self._tail = b""  # the last bytes of the head so far (a CRLFCRLF split in two)
        self._head_end: int | None = None  # offset just past the current request's head
        self._end: int | None = None  # offset just past the current request

    # -- asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._guard._opened(self, transport)
        self._start_reading()  # the first request's deadline runs from the accept
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self.reading:
            self._start_reading()  # the first byte of the next request
        if self._screening:
            data = self._screen(data)
        if data:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self._held:  # a request line cut short: aiohttp answers what there is
            held, self._held = self._held, b""
            self._inner.data_received(held)
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_reading()
        self._guard._forget(self)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    # -- called by the guard and its middleware --------------------------------------------
    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def request_started(self, request: web.Request) -> None:
        """aiohttp has read this request's head; its body may still be arriving."""
        self._handling = True
        if self._screening:
            self._learn_length(request)
        content = request.content
        if content.is_eof():
            self._request_read()
        else:
            content.on_eof(self._request_read)

    def request_finished(self) -> None:
        self._handling = False
        self.running = False

    # -- the read deadline ---------------------------------------------------------------
    def _start_reading(self) -> None:
        self.reading = True
        self._timer = asyncio.get_running_loop().call_later(
            self._guard.read_timeout_s, self._read_timed_out
        )

    def _stop_reading(self) -> None:
        self.reading = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _request_read(self) -> None:
        self._stop_reading()
        self.running = self._handling

    def _read_timed_out(self) -> None:
        self._timer = None
        self._guard.timed_out += 1
        self._guard._forget(self)
        self.close()

    # -- request-line screening ----------------------------------------------------------
    def _screen(self, data: bytes) -> bytes:
        if not self._at_start:
            self._advance(data)
            return data
        self._held += data
        passed = self._decide()
        if passed is None:
            return b""  # the method is not known yet: hold its bytes
        original, self._held = self._held, b""
        self._at_start = False
        self._advance(original)
        return passed

    def _decide(self) -> bytes | None:
        """The held bytes to pass on (the method maybe replaced), or None: need more."""
        held = self._held
        space = held.find(b" ")
        if space < 0:
            waiting = len(held) <= _MAX_METHOD_BYTES and _TOKEN.fullmatch(held) is not None
            return None if waiting else held
        method = held[:space]
        if method in _PASSED_METHODS or _TOKEN.fullmatch(method) is None:
            return held
        return _STAND_IN + held[space:]

    def _advance(self, data: bytes) -> None:
        """Count received bytes of the current request; find where its head ends."""
        if self._head_end is None:
            window = self._tail + data
            found = window.find(b"\r\n\r\n")
            if found >= 0:
                self._head_end = self._seen - len(self._tail) + found + 4
            self._tail = window[-3:]
        self._seen += len(data)
        self._check_end()

    def _learn_length(self, request: web.Request) -> None:
        headers = request.headers
        if (
            self._at_start
            or self._head_end is None
            or "Transfer-Encoding" in headers
            or "Upgrade" in headers
            or request.method == "CONNECT"
        ):
            self._screening = False  # the request's end is not known exactly
            return
        self._end = self._head_end + (request.content_length or 0)
        self._check_end()

    def _check_end(self) -> None:
        if self._end is None:
            return
        if self._seen > self._end:  # bytes of a later request came with this one
            self._screening = False
        elif self._seen == self._end:  # the next byte begins the next request
            self._at_start = True
            self._tail, self._head_end, self._end = b"", None, None


class GuardedSite(web.BaseSite):
    """Serves ``runner``'s application on a listening socket, through a guard."""

    def __init__(self, runner: web.AppRunner, sock: socket.socket, guard: ConnectionGuard) -> None:
        super().__init__(runner)
        self._sock = sock
        self._guard = guard
        self._task: asyncio.Task[None] | None = None
        host, port = sock.getsockname()[:2]
        self._name = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def name(self) -> str:
        return self._name

    async def start(self) -> None:
        await super().start()  # registers the site with the runner
        self._task = asyncio.create_task(self._accept_forever(), name=f"accept {self._name}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._sock.close()
        self._guard.close_waiting()
        await super().stop()

    async def _accept_forever(self) -> None:
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None  # the runner is set up before a site starts

        def protocol() -> asyncio.Protocol:
            return self._guard.connection(server())

        while True:
            try:
                sock, _ = await loop.sock_accept(self._sock)
            except OSError as exc:
                await self._accept_failed(exc)
                continue
            if not self._guard.make_room():
                sock.close()
                continue
            try:
                await loop.connect_accepted_socket(protocol, sock)
            except Exception:  # one bad connection must not stop the API accepting
                _log.exception("cannot set up an API connection")
                sock.close()

    async def _accept_failed(self, exc: OSError) -> None:
        if exc.errno in _OUT_OF_DESCRIPTORS:
            # The process is out of descriptors (the proxies' connections hold them): free
            # one of ours if we can, and retry shortly instead of spinning.
            self._guard.close_oldest_waiting()
            _log.warning("out of descriptors accepting an API connection: %s", exc)
            await asyncio.sleep(_ACCEPT_RETRY_S)
        elif exc.errno not in (errno.ECONNABORTED, errno.EPROTO, errno.EAGAIN):
            _log.error("accepting an API connection failed: %s", exc)
            await asyncio.sleep(_ACCEPT_RETRY_S)


def bind_listener(host: str, port: int) -> socket.socket:
    """A non-blocking socket listening on ``host:port`` with the API's burst backlog."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(API_LISTEN_BACKLOG)  # a burst waits in the kernel queue, not refused
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
