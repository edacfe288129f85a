"""One proxied connection: the client socket, the upstream socket, and a flow each way.

Each direction is a :class:`Flow` from a *source* socket to a *sink* socket. With no toxic
on it the flow is a **fast path**: ``data_received`` writes straight into the sink transport
(no coroutine, no chain, one attribute test), and flow control is the transports' own:
when the sink's write buffer passes its high-water mark its protocol gets ``pause_writing``
and we ``pause_reading`` the source, resumed on ``resume_writing``.

With toxics the flow has a **chain** of pipes (see ``toxics/base.py``) ending in the sink;
the source is also paused while the chain holds more than ``CHAIN_HIGH_BYTES``. Adding or
removing a toxic re-links the chain between two chunks (everything runs on one event loop,
so no chunk is ever half-way): a removed pipe first flushes what it holds into its
successor, so no byte is lost or reordered, and the flow drops back to the fast path when
its chain is empty. :class:`Flow` and its chain bookkeeping live in :mod:`._flow`; this
module keeps the sockets (the per-chunk fast path) and the link's lifecycle.

Closing: a FIN from one side travels the flow like data (``feed_eof``) and becomes a
``write_eof`` (half-close) on the other; once both directions have delivered their EOF both
sockets are closed. A socket that errors or is reset makes the link abort the other socket
(a reset, never a hang). ``Link.reset`` aborts both with ``SO_LINGER`` 0 (a real RST).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from chaos_workbench.proxy._flow import (
    CHAIN_HIGH_BYTES,
    CHAIN_LOW_BYTES,
    PAUSE_CHAIN,
    PAUSE_CONNECTING,
    PAUSE_SINK,
    Flow,
)
from chaos_workbench.proxy.toxics.base import PipeContext, Stream, Toxic

if TYPE_CHECKING:
    from chaos_workbench.proxy.listener import ProxyRuntime, ToxicEntry

__all__ = ["CHAIN_HIGH_BYTES", "CHAIN_LOW_BYTES", "Flow", "Link"]

# Transport write buffer: a larger high-water mark than asyncio's 64 KiB lets one read of
# 256 KiB pass without pausing the source every time (measured: +20 % bulk throughput).
WRITE_HIGH_BYTES = 1024 * 1024

_LINGER_RST = struct.pack("ii", 1, 0)


class _Side(asyncio.Protocol):
    """One socket of a link (client or upstream)."""

    def __init__(self, link: Link, *, is_client: bool) -> None:
        self.link = link
        self.is_client = is_client
        self.transport: asyncio.Transport | None = None
        self.inflow: Flow  # bytes read from this socket
        self.outflow: Flow  # bytes written to this socket
        self.pause_bits = 0
        self.lost = False

    # -- asyncio callbacks ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)
        self.transport.set_write_buffer_limits(high=WRITE_HIGH_BYTES)
        if self.is_client:
            self.link.accepted()

    def data_received(self, data: bytes) -> None:
        flow = self.inflow
        n = len(data)
        flow.nbytes += n
        head = flow.head
        if head is None:
            sink = flow.sink_transport
            if sink is not None:
                sink.write(data)
                flow.nsent += n
            else:
                self.early(data)
        else:
            head.feed(data)
            if flow.backlog() > CHAIN_HIGH_BYTES:
                self.pause(PAUSE_CHAIN)

    def eof_received(self) -> bool:
        self.inflow.source_eof()
        return True  # keep the socket open for writing: half-close

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.link.side_lost(self, exc)

    def pause_writing(self) -> None:
        flow = self.outflow
        flow.sink_full = True
        # On the fast path a full sink pauses the source. With a chain, the sink's buffer
        # counts towards the chain's backlog instead: pausing the source each time a latency
        # toxic releases a burst would leave a gap in the pipeline one delay later.
        if flow.head is None and flow.source is not None:
            flow.source.pause(PAUSE_SINK)

    def resume_writing(self) -> None:
        flow = self.outflow
        flow.sink_full = False
        if flow.source is not None:
            flow.source.resume(PAUSE_SINK)
            flow.check_resume()

    def early(self, data: bytes) -> None:
        """Bytes that came before the upstream connected: keep them, stop reading.

        uvloop starts reading right after ``connection_made`` even if it paused reading, so
        the pause in ``Link.accepted`` is not enough on its own.
        """
        self.inflow.pending.append(data)
        if self.transport is not None and not self.lost:
            self.transport.pause_reading()

    # -- flow control ----------------------------------------------------------------------
    def pause(self, bit: int) -> None:
        if not self.pause_bits and self.transport is not None and not self.lost:
            self.transport.pause_reading()
        self.pause_bits |= bit

    def resume(self, bit: int) -> None:
        if not self.pause_bits & bit:
            return
        self.pause_bits &= ~bit
        if not self.pause_bits and self.transport is not None and not self.lost:
            self.transport.resume_reading()


class Link:
    """A client connection proxied to one upstream connection."""

    def __init__(self, runtime: ProxyRuntime, link_id: int) -> None:
        self.runtime = runtime
        self._id = link_id
        self.client = _Side(self, is_client=True)
        self.upstream = _Side(self, is_client=False)
        self.up = Flow(self, Stream.UPSTREAM, self.client, self.upstream)
        self.down = Flow(self, Stream.DOWNSTREAM, self.upstream, self.client)
        self.client.inflow = self.upstream.outflow = self.up
        self.upstream.inflow = self.client.outflow = self.down
        self.states: dict[str, Any] = {}
        self.connected = False  # toxics attach once the upstream is connected
        self.closed = False
        self._client_address = ""

    # -- the Connection protocol that pipes see --------------------------------------------
    @property
    def id(self) -> int:
        return self._id

    @property
    def client_address(self) -> str:
        return self._client_address

    def reset(self) -> None:
        for side in (self.client, self.upstream):
            transport = side.transport
            if transport is not None and not side.lost:
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
        self.abort()

    def close(self) -> None:
        self._finish()
        for side in (self.client, self.upstream):
            if side.transport is not None:
                side.transport.close()

    def close_after_eof(self, stream: Stream) -> None:
        flow = self.up if stream is Stream.UPSTREAM else self.down
        flow.close_on_eof = True
        if flow.eof_out:
            self.close()

    def abort(self) -> None:
        self._finish()
        for side in (self.client, self.upstream):
            if side.transport is not None:
                side.transport.abort()

    # -- lifecycle -------------------------------------------------------------------------
    def client_protocol(self) -> asyncio.Protocol:
        return self.client

    def accepted(self) -> None:
        """The client connected: pause it until the upstream is connected."""
        transport = self.client.transport
        assert transport is not None
        peer = transport.get_extra_info("peername")
        self._client_address = f"{peer[0]}:{peer[1]}" if peer else ""
        self.client.pause(PAUSE_CONNECTING)
        self.up.sink_transport = None
        self.down.sink_transport = transport
        self.runtime.link_opened(self)

    def upstream_connected(self) -> None:
        if self.closed:
            if self.upstream.transport is not None:
                self.upstream.transport.abort()
            return
        self.up.sink_transport = self.upstream.transport
        self.connected = True
        for entry in self.runtime.toxic_entries():
            self.attach(entry)
        for flow in (self.up, self.down):
            pending, flow.pending = flow.pending, []
            for data in pending:
                if self.closed:
                    return
                if flow.head is not None:
                    flow.head.feed(data)
                elif flow.sink_transport is not None:
                    flow.sink_transport.write(data)
                    flow.nsent += len(data)
            if flow.eof_in and not self.closed:
                flow.eof_in = False
                flow.source_eof()
        if self.closed:
            return
        self.client.resume(PAUSE_CONNECTING)
        if self.client.transport is not None and not self.client.pause_bits:
            self.client.transport.resume_reading()

    def upstream_failed(self) -> None:
        if self.client.transport is not None and not self.closed:
            self.close()

    def upstream_factory(self) -> Callable[[], asyncio.Protocol]:
        return lambda: self.upstream

    def attach(self, entry: ToxicEntry) -> None:
        """Add ``entry``'s pipes to this link, if its toxicity picks this connection."""
        if self.closed or not self.connected:
            return
        info = entry.info
        toxic: Toxic[Any] = entry.toxic
        # Toxicity per connection: random() < 0 never holds, random() < 1 always does.
        if not self.runtime.rng.random() < info.toxicity:
            return
        if info.name not in self.states:
            self.states[info.name] = toxic.new_state()
        state = self.states[info.name]
        flow = self.up if info.stream is Stream.UPSTREAM else self.down
        other = self.down if flow is self.up else self.up
        ctx = self._context(entry, flow.stream, state)
        pipe = toxic.pipe(ctx)
        reverse = toxic.reverse_pipe(self._context(entry, other.stream, state))
        flow.insert(info.name, False, entry.seq, pipe)
        if reverse is not None and not self.closed:
            other.insert(info.name, True, entry.seq, reverse)

    def detach(self, toxic_name: str, *, keep_state: bool = False) -> None:
        """Flush and remove ``toxic_name``'s pipes (both directions)."""
        if self.closed or not self.connected:
            return
        self.up.remove(toxic_name)
        self.down.remove(toxic_name)
        if not keep_state:
            self.states.pop(toxic_name, None)

    def _context(self, entry: ToxicEntry, stream: Stream, state: Any) -> PipeContext:
        return PipeContext(
            toxic_name=entry.info.name,
            stream=stream,
            connection=self,
            state=state,
            rng=self.runtime.rng,
            clock=self.runtime.clock,
            _on_action=entry.counter.increment,
        )

    def flow_done(self) -> None:
        if self.up.eof_out and self.down.eof_out and not self.closed:
            self.close()

    def side_lost(self, side: _Side, exc: Exception | None) -> None:
        if self.closed:
            return
        if exc is not None:
            self.abort()  # an error or a reset on one side: reset the other, never hang
            return
        # A clean close of one side: what it sent is complete (EOF), what it would receive
        # has nowhere to go.
        side.inflow.source_eof()
        side.outflow.sink_transport = None
        side.outflow.eof_out = True
        self.flow_done()
        if self.client.lost and self.upstream.lost:
            self._finish()

    def _finish(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.up.dispose()
        self.down.dispose()
        self.up.source = self.down.source = None
        self.states.clear()
        self.runtime.link_closed(self)
