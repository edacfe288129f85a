"""Listen and upstream addresses checked as Toxiproxy (Go's ``net`` package) checks them.

Used by :class:`~chaos_workbench.proxy.manager.ProxyManager` to refuse a change before it
stops anything: the errors are worded as Go's ``net.Listen`` / ``net.ResolveTCPAddr`` would.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket

from chaos_workbench.host.address import join_host_port, split_host_port
from chaos_workbench.proxy.errors import ListenFailed

__all__ = ["check_address", "probe_listen", "resolved_listen"]


def check_address(address: str) -> None:
    """``ListenFailed`` (500, as the runtime would answer) unless ``address`` is host:port."""
    try:
        split_host_port(address, allow_empty_host=True)
    except ValueError as exc:
        raise ListenFailed(str(exc)) from None


async def resolved_listen(listen: str) -> str:
    """``listen`` as Go's ``net.ResolveTCPAddr`` prints it: a host name becomes its first
    address (IPv4 first), an empty host stays empty (":80"). Unresolvable or malformed:
    unchanged, so it differs from every running proxy and the bind check reports it.
    """
    try:
        host, port = split_host_port(listen, allow_empty_host=True)
    except ValueError:
        return listen
    if not host:
        return f":{port}"
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError:
        return listen
    infos.sort(key=lambda i: i[0] != socket.AF_INET)
    return join_host_port(str(infos[0][4][0]), port)


async def probe_listen(
    listen: str, claimed: set[tuple[str, int]] | None = None, *, bind: bool = True
) -> None:
    """``ListenFailed`` worded as Go's ``net.Listen`` if ``listen`` cannot be bound now.

    Resolves as :meth:`ProxyRuntime.start` does (empty host: every IPv4 interface; IPv4
    first) and binds a throwaway socket with ``SO_REUSEADDR``, as the listener does, so a
    caller can refuse a change before it stops anything. Port 0 always binds. ``claimed``
    collects the addresses of one request, so two entries cannot take the same one.
    """
    try:
        host, port = split_host_port(listen, allow_empty_host=True)
    except ValueError as exc:
        raise ListenFailed(str(exc)) from None
    if port == 0:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host or "0.0.0.0", port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise ListenFailed(f"listen tcp: lookup {host}: {reason}") from None
    infos.sort(key=lambda i: i[0] != socket.AF_INET)
    family, kind, proto, _, address = infos[0]
    # Go names the resolved address, or ":port" for every interface.
    shown = join_host_port(str(address[0]), port) if host else f":{port}"
    key = (str(address[0]), port)
    try:
        if claimed is not None and key in claimed:
            raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))
        if bind:
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(address)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise ListenFailed(f"listen tcp {shown}: bind: {reason}") from None
    if claimed is not None:
        claimed.add(key)
