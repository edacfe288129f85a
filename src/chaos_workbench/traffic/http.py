"""One HTTP/1.1 keep-alive connection on a raw asyncio protocol, parsed by ``httptools``.

The fast path of the load driver: no coroutine, no future and no object per request. A
connection carries one request at a time (no pipelining: a server's answer time must not
depend on the request before it); the driver owns the pool and all timing decisions, and
the connection only reports "response complete", "failed" or "lost" back to it.

Errors are classified here, as the ``ErrorKind`` the windows count:

* connect: refused → ``CONNECT_REFUSED``; no answer in time → ``CONNECT_TIMEOUT``;
  TLS handshake failure → ``PROTOCOL``; reset → ``RESET``; anything else → ``OTHER``;
* in flight: reset or closed by the peer before the response ended → ``RESET``; a response
  that does not parse → ``PROTOCOL``; no complete response by the deadline → ``READ_TIMEOUT``;
* a complete response with status 4xx / 5xx → ``HTTP_4XX`` / ``HTTP_5XX``.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, Protocol, cast

import httptools

from chaos_workbench.traffic.window import ErrorKind

if TYPE_CHECKING:
    from chaos_workbench.traffic.requests import Target

__all__ = ["Connection", "ConnectionOwner", "classify_connect_error", "ssl_context"]


class ConnectionOwner(Protocol):
    """What a connection reports to (the driver)."""

    def on_response(self, conn: Connection, status: int, keep_alive: bool) -> None: ...

    def on_failure(self, conn: Connection, kind: ErrorKind) -> None: ...

    def on_lost(self, conn: Connection, exc: Exception | None) -> None: ...


class Connection(asyncio.Protocol):
    """A keep-alive HTTP/1.1 client connection; the driver fills the request fields."""

    __slots__ = (
        "_head",
        "_owner",
        "_parser",
        "_reset_parser",
        "busy",
        "closed",
        "deadline_ns",
        "index",
        "intended_ns",
        "nbytes",
        "retried",
        "sent_ns",
        "served",
        "transport",
    )

    def __init__(self, owner: ConnectionOwner) -> None:
        self._owner = owner
        self._parser = httptools.HttpResponseParser(self)
        self._head = False
        self._reset_parser = False
        self.transport: asyncio.Transport | None = None
        self.busy = False
        self.closed = False
        self.served = 0  # responses completed on this connection (0: never reused yet)
        self.intended_ns = 0
        self.sent_ns = 0
        self.deadline_ns = 0
        self.index = 0  # which request of the mix is in flight
        self.retried = False
        self.nbytes = 0

    # -- driver side -------------------------------------------------------------------
    def send(
        self,
        data: bytes,
        intended_ns: int,
        sent_ns: int,
        deadline_ns: int,
        index: int,
        head: bool,
        retried: bool,
    ) -> None:
        """Write one request; the answer comes back through the owner's callbacks."""
        self.busy = True
        self.intended_ns = intended_ns
        self.sent_ns = sent_ns
        self.deadline_ns = deadline_ns
        self.index = index
        self._head = head
        self.retried = retried
        self.nbytes = 0
        assert self.transport is not None
        self.transport.write(data)

    def abort(self) -> None:
        """Drop the connection now (RST), without reporting it as lost."""
        if not self.closed:
            self.closed = True
            self.busy = False
            if self.transport is not None:
                self.transport.abort()

    def close(self) -> None:
        """Close gracefully (idle connection), without reporting it as lost."""
        if not self.closed:
            self.closed = True
            self.busy = False
            if self.transport is not None:
                self.transport.close()

    # -- asyncio.Protocol --------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it: no isinstance
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self.busy:  # bytes nobody asked for: the stream is out of step
            self.abort()
            return
        self.nbytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self.busy = False
            self._owner.on_failure(self, ErrorKind.PROTOCOL)
            self.abort()
            return
        if self._reset_parser:
            self._reset_parser = False
            self._parser = httptools.HttpResponseParser(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self.closed = True
            self._owner.on_lost(self, exc)

    # -- httptools callbacks -----------------------------------------------------------
    def on_headers_complete(self) -> None:
        if self._head:  # a HEAD answer has no body whatever Content-Length says
            self._reset_parser = True
            self._complete()

    def on_message_complete(self) -> None:
        if not self._head:
            self._complete()

    def _complete(self) -> None:
        if not self.busy:
            return
        self.busy = False
        self.served += 1
        parser = self._parser
        self._owner.on_response(self, parser.get_status_code(), parser.should_keep_alive())


def classify_connect_error(exc: BaseException) -> ErrorKind:
    """The error kind of a failed connection attempt."""
    if isinstance(exc, TimeoutError):
        return ErrorKind.CONNECT_TIMEOUT
    if isinstance(exc, ConnectionRefusedError):
        return ErrorKind.CONNECT_REFUSED
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError):
        return ErrorKind.RESET
    if isinstance(exc, ssl.SSLError):
        return ErrorKind.PROTOCOL
    return ErrorKind.OTHER


def ssl_context(target: Target, *, verify: bool, ca_file: str | None) -> ssl.SSLContext | None:
    """The TLS context for an https target (None for plain http)."""
    if not target.tls:
        return None
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
