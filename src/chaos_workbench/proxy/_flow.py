"""One direction of a proxied connection, and the chain of toxic pipes it may run through.

A :class:`Flow` carries bytes from a *source* socket to a *sink* socket of a
:class:`~chaos_workbench.proxy.link.Link`. With no toxic it is the fast path: ``head`` is
None and the link's socket protocol writes each chunk straight into ``sink_transport`` (that
code lives in :mod:`.link`, where the bytes arrive). With toxics, ``entries`` is a chain of
pipes (see ``toxics/base.py``) ordered by the toxics' sequence numbers and ending in a
:class:`_Sink` that writes into the sink socket.

This module is the chain's bookkeeping: inserting a pipe, removing one (it first flushes what
it holds into its successor, so no byte is lost or reordered), the backlog that pauses the
source above ``CHAIN_HIGH_BYTES`` and resumes it below ``CHAIN_LOW_BYTES``, and the EOF that
travels the flow like data. It is apart from :mod:`.link` because the fast path only reads
a flow's fields and never calls into this module, and the link's connection lifecycle does
not depend on the chain's details.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from chaos_workbench.proxy.toxics.base import Pipe, Stream

if TYPE_CHECKING:
    from chaos_workbench.proxy.link import Link, _Side

__all__ = [
    "CHAIN_HIGH_BYTES",
    "CHAIN_LOW_BYTES",
    "PAUSE_CHAIN",
    "PAUSE_CONNECTING",
    "PAUSE_SINK",
    "Flow",
]

# A chain may hold this much before the source is paused. It must cover the bandwidth-delay
# product of a latency toxic, or the toxic caps throughput: 50 ms × 1 GB/s = 50 MB. Per
# direction, only while toxics hold data. Once the cap is reached, a latency toxic passes
# (bytes held on average) / (delay), and a paused source refills at once, so it resumes
# close to the cap: resuming at half (32 MiB) gave 0.92 GB/s at 50 ms, 0.47 of the no-toxic
# 1.9 GB/s; resuming at 56 MiB gives 1.17 GB/s, 0.62 (bench/proxy_bench.py, bulk section).
CHAIN_HIGH_BYTES = 64 * 1024 * 1024
CHAIN_LOW_BYTES = 56 * 1024 * 1024

# Why a source socket is paused (bits of ``_Side.pause_bits``; it reads again at 0).
PAUSE_SINK = 1  # the sink's write buffer is full
PAUSE_CHAIN = 2  # the chain holds too much
PAUSE_CONNECTING = 4  # the upstream is not connected yet


class _Sink:
    """The last stage of a chain: writes into the sink socket."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow

    def feed(self, data: bytes) -> None:
        flow = self.flow
        transport = flow.sink_transport
        if transport is not None and not transport.is_closing():
            transport.write(data)
            flow.nsent += len(data)
        flow.check_resume()

    def feed_eof(self) -> None:
        self.flow.deliver_eof()


class _Entry:
    __slots__ = ("pipe", "reverse", "seq", "toxic_name")

    def __init__(self, toxic_name: str, reverse: bool, seq: int, pipe: Pipe) -> None:
        self.toxic_name = toxic_name
        self.reverse = reverse
        self.seq = seq
        self.pipe = pipe


class Flow:
    """One direction of a link: source socket → chain of pipes → sink socket."""

    def __init__(self, link: Link, stream: Stream, source: _Side, sink: _Side) -> None:
        self.link = link
        self.stream = stream
        self.source: _Side | None = source
        self.sink = sink
        self.sink_transport: asyncio.Transport | None = None
        self.entries: list[_Entry] = []
        self.head: Pipe | None = None  # None: the fast path
        self.end = _Sink(self)
        self.nbytes = 0  # bytes read from the source (live metric)
        self.nsent = 0  # bytes written to the sink, after the chain (live metric)
        self.sink_full = False  # the sink's transport asked us to pause writing
        self.pending: list[bytes] = []  # bytes read before the upstream connected
        self.eof_in = False
        self.eof_out = False
        self.close_on_eof = False  # a toxic ended this stream: its EOF closes the link

    def backlog(self) -> int:
        """Bytes held by the chain plus those waiting in the sink's write buffer."""
        held = sum(e.pipe.held_bytes for e in self.entries)
        transport = self.sink_transport
        return held + (transport.get_write_buffer_size() if transport is not None else 0)

    def check_resume(self) -> None:
        src = self.source
        if src is not None and src.pause_bits & PAUSE_CHAIN and self.backlog() < CHAIN_LOW_BYTES:
            src.resume(PAUSE_CHAIN)

    def source_eof(self) -> None:
        if self.eof_in:
            return
        self.eof_in = True
        if not self.link.connected and not self.link.closed:
            return  # delivered by Link.upstream_connected, after the early bytes
        if self.head is None:
            self.deliver_eof()
        else:
            self.head.feed_eof()

    def deliver_eof(self) -> None:
        if self.eof_out:
            return
        self.eof_out = True
        transport = self.sink_transport
        if transport is not None and not transport.is_closing() and transport.can_write_eof():
            transport.write_eof()
        if self.close_on_eof:
            self.link.close()
        else:
            self.link.flow_done()

    # -- chain changes (on a live connection) --------------------------------------------
    def _relink(self) -> None:
        entries = self.entries
        for i, entry in enumerate(entries):
            entry.pipe.out = entries[i + 1].pipe if i + 1 < len(entries) else self.end
        self.head = entries[0].pipe if entries else None

    def insert(self, toxic_name: str, reverse: bool, seq: int, pipe: Pipe) -> None:
        entry = _Entry(toxic_name, reverse, seq, pipe)
        index = len(self.entries)
        while index > 0 and self.entries[index - 1].seq > seq:
            index -= 1
        self.entries.insert(index, entry)
        self._relink()
        pipe.start()

    def remove(self, toxic_name: str) -> None:
        """Flush and remove every pipe of ``toxic_name`` (forward or reverse) in this flow."""
        for entry in [e for e in self.entries if e.toxic_name == toxic_name]:
            if entry not in self.entries:
                continue  # a flush above closed the link and cleared the chain
            entry.pipe.flush()
            if entry in self.entries:
                self.entries.remove(entry)
                self._relink()
            entry.pipe.dispose()
        src = self.source
        if src is not None and not self.entries and self.sink_full:
            src.pause(PAUSE_SINK)  # back on the fast path: the sink's state rules again
        self.check_resume()

    def dispose(self) -> None:
        entries, self.entries = self.entries, []
        self.head = None
        for entry in entries:
            entry.pipe.dispose()
