"""One proxy at run time: its listening socket, its open links, its toxics and counters.

The manager owns validation and naming; a :class:`ProxyRuntime` just does what it is told:
``start`` binds the listen address (port 0 → an ephemeral port, reported back in
``listen``), ``stop`` closes the listener *and* aborts every open link (Toxiproxy's
``enabled: false``: refuse new connections, drop existing ones), toxics are attached to
every open link as they are added and detached (flushed) as they are removed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import random
import socket
from dataclasses import dataclass, field
from typing import Any

from chaos_workbench.host.address import join_host_port, split_host_port
from chaos_workbench.proxy.errors import ListenFailed
from chaos_workbench.proxy.link import Link
from chaos_workbench.proxy.models import ProxyStats, Stream, ToxicActionCount, ToxicInfo
from chaos_workbench.proxy.timing import Clock
from chaos_workbench.proxy.toxics.base import Toxic

__all__ = ["ActionCounter", "ProxyRuntime", "ToxicEntry"]

_link_ids = itertools.count(1)
# Enough for 10,000 clients connecting at once (the kernel caps it at somaxconn anyway).
_BACKLOG = 4096


class ActionCounter:
    """How often one toxic acted (a plain int, incremented on the hot path)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def increment(self) -> None:
        self.count += 1


@dataclass(eq=False)
class ToxicEntry:
    """A configured toxic on a proxy: what the API shows, the toxic object, its position."""

    info: ToxicInfo
    toxic: Toxic[Any]
    seq: int
    counter: ActionCounter
    expiry: asyncio.TimerHandle | None = field(default=None)


class ProxyRuntime:
    """A proxy's listener, links and toxics."""

    def __init__(
        self, name: str, listen: str, upstream: str, *, rng: random.Random, clock: Clock
    ) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.rng = rng
        self.clock = clock
        self.toxics: dict[str, ToxicEntry] = {}
        self.links: set[Link] = set()
        self._server: asyncio.Server | None = None
        self._upstream_addr: tuple[str, int] | None = None
        self._connecting: set[asyncio.Task[None]] = set()
        self.connections_total = 0
        self.closed_bytes_up = 0
        self.closed_bytes_down = 0
        self.closed_sent_up = 0
        self.closed_sent_down = 0
        self.counters: dict[tuple[str, str, Stream], ActionCounter] = {}

    # -- listener ------------------------------------------------------------------------
    async def start(self) -> None:
        """Bind and accept; ``ListenFailed`` (500) with the OS error if it cannot."""
        if self.enabled:
            return
        loop = asyncio.get_running_loop()
        try:
            host, port = split_host_port(self.listen, allow_empty_host=True)
            split_host_port(self.upstream, allow_empty_host=True)
        except ValueError as exc:
            raise ListenFailed(str(exc)) from None
        bind_host = host or "0.0.0.0"
        try:
            infos = await loop.getaddrinfo(
                bind_host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
            # One address only: "localhost:0" must not become two sockets on two ports.
            infos.sort(key=lambda i: i[0] != socket.AF_INET)
            family, _, _, _, sockaddr = infos[0]
            server = await loop.create_server(
                self._protocol,
                host=str(sockaddr[0]),
                port=port,
                family=family,
                reuse_address=True,
                backlog=_BACKLOG,
            )
        except OSError as exc:
            raise ListenFailed(f"listen tcp {self.listen}: {exc.strerror or exc}") from None
        bound = server.sockets[0].getsockname()
        self.listen = join_host_port(str(bound[0]), int(bound[1]))
        self._server = server
        self._upstream_addr = None
        self.enabled = True

    async def stop(self) -> None:
        """Stop listening and drop every open link (a reset for its peers)."""
        self.enabled = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in list(self._connecting):
            task.cancel()
        for link in list(self.links):
            link.abort()
        if server is not None:
            await server.wait_closed()

    def _protocol(self) -> asyncio.Protocol:
        link = Link(self, next(_link_ids))
        return link.client_protocol()

    # -- links ---------------------------------------------------------------------------
    def link_opened(self, link: Link) -> None:
        self.links.add(link)
        self.connections_total += 1
        task = asyncio.get_running_loop().create_task(self._connect(link))
        self._connecting.add(task)
        task.add_done_callback(self._connecting.discard)

    def link_closed(self, link: Link) -> None:
        if link in self.links:
            self.links.discard(link)
            self.closed_bytes_up += link.up.nbytes
            self.closed_bytes_down += link.down.nbytes
            self.closed_sent_up += link.up.nsent
            self.closed_sent_down += link.down.nsent

    async def _connect(self, link: Link) -> None:
        loop = asyncio.get_running_loop()
        try:
            host, port = self._upstream_addr or await self._resolve_upstream()
            await loop.create_connection(link.upstream_factory(), host, port)
        except (OSError, ValueError):
            self._upstream_addr = None  # resolve again next time (the address may move)
            link.upstream_failed()
            return
        except asyncio.CancelledError:
            link.abort()
            raise
        link.upstream_connected()

    async def _resolve_upstream(self) -> tuple[str, int]:
        host, port = split_host_port(self.upstream, allow_empty_host=True)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host or "127.0.0.1", port, type=socket.SOCK_STREAM
            )
            infos.sort(key=lambda i: i[0] != socket.AF_INET)
            host = str(infos[0][4][0])
        self._upstream_addr = (host, port)
        return self._upstream_addr

    # -- toxics --------------------------------------------------------------------------
    def toxic_entries(self) -> list[ToxicEntry]:
        return sorted(self.toxics.values(), key=lambda e: e.seq)

    def counter_for(self, info: ToxicInfo) -> ActionCounter:
        key = (info.name, info.type, info.stream)
        counter = self.counters.get(key)
        if counter is None:
            counter = self.counters[key] = ActionCounter()
        return counter

    def add_toxic(self, entry: ToxicEntry) -> None:
        self.toxics[entry.info.name] = entry
        for link in list(self.links):
            link.attach(entry)

    def remove_toxic(self, name: str) -> ToxicEntry | None:
        entry = self.toxics.pop(name, None)
        if entry is None:
            return None
        if entry.expiry is not None:
            entry.expiry.cancel()
        for link in list(self.links):
            link.detach(name)
        return entry

    def replace_toxic(self, entry: ToxicEntry) -> None:
        """Swap in new settings for a toxic, keeping its position and per-connection state."""
        old = self.toxics[entry.info.name]
        entry.expiry = old.expiry
        self.toxics[entry.info.name] = entry
        for link in list(self.links):
            link.detach(entry.info.name, keep_state=True)
            link.attach(entry)

    # -- metrics -------------------------------------------------------------------------
    def stats(self) -> ProxyStats:
        up = self.closed_bytes_up + sum(link.up.nbytes for link in self.links)
        down = self.closed_bytes_down + sum(link.down.nbytes for link in self.links)
        return ProxyStats(
            name=self.name,
            listen=self.listen,
            upstream=self.upstream,
            enabled=self.enabled,
            connections_open=len(self.links),
            connections_total=self.connections_total,
            bytes_upstream=up,
            bytes_downstream=down,
            sent_bytes_upstream=self.closed_sent_up + sum(link.up.nsent for link in self.links),
            sent_bytes_downstream=(
                self.closed_sent_down + sum(link.down.nsent for link in self.links)
            ),
            toxic_actions=tuple(
                ToxicActionCount(toxic=name, type=type_, stream=stream, count=c.count)
                for (name, type_, stream), c in sorted(self.counters.items())
            ),
        )
