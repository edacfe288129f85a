"""``cwb proxy`` and ``cwb toxic``: run the fault proxy, and drive any Toxiproxy-compatible API.

``cwb proxy`` (or ``cwb proxy serve``) runs the proxy server with its control API on
127.0.0.1:8474, like ``toxiproxy-server``; ``--config`` loads a Toxiproxy JSON config and
``--seed`` makes toxicity and jitter reproducible (a seed is chosen and printed otherwise).
The other commands are a client like ``toxiproxy-cli``, for our server or a real Toxiproxy
(``--api`` or ``--host``, default ``$TOXIPROXY_URL`` or http://127.0.0.1:8474):

    cwb proxy list | create NAME -u UPSTREAM [-l LISTEN] | toggle NAME | delete NAME | inspect NAME
    cwb toxic add PROXY -t TYPE [-n NAME] [--upstream] [--toxicity T] [-a key=value ...]
    cwb toxic update PROXY -n NAME [--toxicity T] [-a key=value ...]
    cwb toxic remove PROXY -n NAME
    cwb toxic list PROXY

A mistake (unknown proxy, bad attribute, API error 4xx) prints one clear line and exits 2;
an unreachable API or a server error exits 1. No tracebacks.

This module holds the server and the ``cwb proxy`` commands; the ``cwb toxic`` commands
are in ``cli_toxic`` (``toxic_app`` is re-exported here) and what both share (``--api``,
output, error handling) in ``_cli_common``.

Run as a module (what ``server_process.start_proxy_server`` spawns)::

    python -m chaos_workbench.proxy.cli serve --port 0 --port-file api.port
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import signal
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from chaos_workbench.limits import API_READ_TIMEOUT_S
from chaos_workbench.proxy._cli_common import (
    DEFAULT_API,
    ApiOption,
    call,
    err,
    fail,
    out,
    print_proxy,
)
from chaos_workbench.proxy.cli_toxic import toxic_app
from chaos_workbench.proxy.client import RemoteProxy, ToxiproxyClient
from chaos_workbench.proxy.models import ProxySpec

__all__ = ["main", "proxy_app", "serve", "toxic_app"]

proxy_app = typer.Typer(
    name="proxy",
    help="Run the fault proxy (Toxiproxy-compatible API), or manage its proxies.",
    add_completion=False,
    pretty_exceptions_enable=False,
)

T = TypeVar("T")

HostOption = Annotated[str, typer.Option("--host", help="Address the control API binds.")]
PortOption = Annotated[
    int, typer.Option("--port", min=0, max=65535, help="Port of the control API (0: any).")
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Toxiproxy-format JSON file of proxies to create at start."),
]
SeedOption = Annotated[
    int | None, typer.Option("--seed", help="Seed for toxicity and jitter (reproducible runs).")
]
UvloopOption = Annotated[
    bool,
    typer.Option("--uvloop/--no-uvloop", help="Run on uvloop when it is installed (faster)."),
]
ReadTimeoutOption = Annotated[
    float,
    typer.Option(
        "--read-timeout",
        min=0.001,
        help="Seconds a client has to send one request, head and body (Toxiproxy's 15).",
    ),
]
MaxConnectionsOption = Annotated[
    int | None,
    typer.Option(
        "--max-api-connections",
        min=1,
        help="API connections kept open at most (default: a quarter of the descriptor limit).",
    ),
]
ExitWithParentOption = Annotated[
    int | None,
    typer.Option(
        "--exit-with-parent",
        min=1,
        help="Stop when process PID (the one that started this server) is gone, so an "
        "embedded server dies with its owner, even after kill -9.",
    ),
]
PortFileOption = Annotated[
    Path | None,
    typer.Option(
        "--port-file", help="Write the API's host:port here once it listens.", hidden=True
    ),
]


# -- the server --------------------------------------------------------------------------------


@proxy_app.callback(invoke_without_command=True)
def _proxy_root(
    ctx: typer.Context,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8474,
    config: ConfigOption = None,
    seed: SeedOption = None,
    port_file: PortFileOption = None,
    uvloop: UvloopOption = True,
    read_timeout: ReadTimeoutOption = API_READ_TIMEOUT_S,
    max_api_connections: MaxConnectionsOption = None,
) -> None:
    """Run the fault proxy server (same as `serve`) unless a command is given."""
    if ctx.invoked_subcommand is None:
        serve(
            host=host,
            port=port,
            config=config,
            seed=seed,
            port_file=port_file,
            uvloop=uvloop,
            read_timeout=read_timeout,
            max_api_connections=max_api_connections,
        )


@proxy_app.command("serve")
def serve(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8474,
    config: ConfigOption = None,
    seed: SeedOption = None,
    port_file: PortFileOption = None,
    uvloop: UvloopOption = True,
    read_timeout: ReadTimeoutOption = API_READ_TIMEOUT_S,
    max_api_connections: MaxConnectionsOption = None,
    exit_with_parent: ExitWithParentOption = None,
) -> None:
    """Run the fault proxy server with its Toxiproxy-compatible control API."""
    from chaos_workbench.proxy.config import ConfigError, load_config

    specs: tuple[ProxySpec, ...] = ()
    if config is not None:
        try:
            specs = load_config(config)
        except ConfigError as exc:
            fail(f"invalid config file\n{exc}")
    if seed is None:
        seed = secrets.randbits(32)
    limits = _ApiLimits(read_timeout, max_api_connections, exit_with_parent)
    _run(_serve(host, port, specs, seed, config, port_file, limits), use_uvloop=uvloop)


@dataclass(frozen=True)
class _ApiLimits:
    read_timeout_s: float
    max_connections: int | None
    parent_pid: int | None = None  # stop when this process is gone (--exit-with-parent)


async def _serve(
    host: str,
    port: int,
    specs: tuple[ProxySpec, ...],
    seed: int,
    config: Path | None,
    port_file: Path | None,
    limits: _ApiLimits,
) -> None:
    from chaos_workbench.proxy.api import ApiServer
    from chaos_workbench.proxy.errors import ApiError
    from chaos_workbench.proxy.manager import ProxyManager

    manager = ProxyManager(rng=random.Random(seed))
    try:
        if specs:
            try:
                await manager.populate(specs)
            except ApiError as exc:
                fail(f"{config}: cannot create the proxies: {exc.message}")
        server = ApiServer(
            manager,
            host=host,
            port=port,
            read_timeout_s=limits.read_timeout_s,
            max_connections=limits.max_connections,
        )
        try:
            await server.start()
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        try:
            bound_host, bound_port = server.address or (host, port)
            if port_file is not None:
                _write_atomically(port_file, f"{_host_port(bound_host, bound_port)}\n")
            err.print(
                f"cwb proxy: API on {server.url}, {len(specs)} proxies, seed {seed}",
                markup=False,
            )
            await _until_signalled(limits.parent_pid)
        finally:
            await server.aclose()
    finally:
        await manager.aclose()


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _write_atomically(path: Path, text: str) -> None:
    # Readers poll for the file: write elsewhere and rename so they never see half of it.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


async def _until_signalled(parent_pid: int | None = None) -> None:
    """Until SIGINT/SIGTERM, or until ``parent_pid`` is gone (this process is reparented)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    watch = None if parent_pid is None else asyncio.create_task(_orphaned(parent_pid, stop))
    try:
        await stop.wait()
    finally:
        if watch is not None:
            watch.cancel()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _orphaned(parent_pid: int, stop: asyncio.Event) -> None:
    # The kernel reparents an orphan (to init or a subreaper): getppid() then differs. A
    # check every 0.2 s costs nothing and ends the server within a fraction of a second.
    while not stop.is_set():
        if os.getppid() != parent_pid:
            err.print("cwb proxy: the process that started this server is gone: stopping")
            stop.set()
            return
        await asyncio.sleep(0.2)


def _run(coro: Coroutine[Any, Any, T], *, use_uvloop: bool = True) -> T:
    """Run ``coro`` on uvloop when asked and installed (faster relay), else asyncio's loop."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(coro)
    return asyncio.run(coro)


# -- the client commands -----------------------------------------------------------------------


@proxy_app.command("list")
def list_proxies(api: ApiOption = DEFAULT_API) -> None:
    """List the proxies and their toxics."""
    proxies = call(api, lambda c: c.proxies())
    if not proxies:
        out.print("no proxies", markup=False)
        return
    table = Table("Name", "Listen", "Upstream", "Enabled", "Toxics")
    for proxy in sorted(proxies.values(), key=lambda p: p.name):
        toxics = ", ".join(t.name for t in proxy.toxics) or "none"
        table.add_row(proxy.name, proxy.listen, proxy.upstream, str(proxy.enabled).lower(), toxics)
    out.print(table)


@proxy_app.command("inspect")
def inspect(name: str, api: ApiOption = DEFAULT_API) -> None:
    """Show one proxy and its toxics, with their attributes."""
    proxy = call(api, lambda c: c.proxy(name))
    print_proxy(proxy)


@proxy_app.command("create")
def create(
    name: str,
    upstream: Annotated[str, typer.Option("--upstream", "-u", help="host:port to proxy to.")],
    listen: Annotated[
        str, typer.Option("--listen", "-l", help="host:port to listen on (port 0: any).")
    ] = "127.0.0.1:0",
    api: ApiOption = DEFAULT_API,
) -> None:
    """Create a proxy (it starts enabled)."""
    proxy = call(api, lambda c: c.create_proxy(name, upstream, listen=listen))
    out.print(f"Created new proxy {proxy.name} listening on {proxy.listen}", markup=False)


@proxy_app.command("toggle")
def toggle(name: str, api: ApiOption = DEFAULT_API) -> None:
    """Disable an enabled proxy (down), or enable a disabled one."""

    async def flip(client: ToxiproxyClient) -> RemoteProxy:
        proxy = await client.proxy(name)
        return await client.update_proxy(name, enabled=not proxy.enabled)

    proxy = call(api, flip)
    out.print(f"Proxy {proxy.name} is now {'enabled' if proxy.enabled else 'disabled'}")


@proxy_app.command("delete")
def delete(name: str, api: ApiOption = DEFAULT_API) -> None:
    """Delete a proxy (its listener closes, its connections drop)."""
    call(api, lambda c: c.delete_proxy(name))
    out.print(f"Deleted proxy {name}", markup=False)


def main() -> None:
    """``python -m chaos_workbench.proxy.cli``: the ``cwb proxy`` app on its own."""
    with contextlib.suppress(KeyboardInterrupt):
        proxy_app(prog_name="cwb proxy")


if __name__ == "__main__":
    main()
