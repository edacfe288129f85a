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

Run as a module (what ``client.start_proxy_server`` spawns)::

    python -m chaos_workbench.proxy.cli serve --port 0 --port-file api.port
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from chaos_workbench.proxy.client import (
    ProxyApiError,
    ProxyApiUnreachable,
    ProxyClientError,
    RemoteProxy,
    ToxiproxyClient,
)
from chaos_workbench.proxy.models import ProxySpec

__all__ = ["main", "proxy_app", "serve", "toxic_app"]

DEFAULT_API = "http://127.0.0.1:8474"

proxy_app = typer.Typer(
    name="proxy",
    help="Run the fault proxy (Toxiproxy-compatible API), or manage its proxies.",
    add_completion=False,
    pretty_exceptions_enable=False,
)
toxic_app = typer.Typer(
    name="toxic",
    help="Add, update, remove and list toxics on a proxy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)

T = TypeVar("T")

ApiOption = Annotated[
    str,
    typer.Option(
        "--api",
        "--host",  # toxiproxy-cli's name for it
        envvar="TOXIPROXY_URL",
        help="URL of the Toxiproxy-compatible API (toxiproxy-cli: --host).",
        show_default=True,
    ),
]
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
PortFileOption = Annotated[
    Path | None,
    typer.Option(
        "--port-file", help="Write the API's host:port here once it listens.", hidden=True
    ),
]


def _fail(message: str, code: int = 2) -> NoReturn:
    _err.print(f"error: {message}", markup=False)
    raise typer.Exit(code)


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
) -> None:
    """Run the fault proxy server (same as `serve`) unless a command is given."""
    if ctx.invoked_subcommand is None:
        serve(host=host, port=port, config=config, seed=seed, port_file=port_file, uvloop=uvloop)


@proxy_app.command("serve")
def serve(
    host: HostOption = "127.0.0.1",
    port: PortOption = 8474,
    config: ConfigOption = None,
    seed: SeedOption = None,
    port_file: PortFileOption = None,
    uvloop: UvloopOption = True,
) -> None:
    """Run the fault proxy server with its Toxiproxy-compatible control API."""
    from chaos_workbench.proxy.config import ConfigError, load_config

    specs: tuple[ProxySpec, ...] = ()
    if config is not None:
        try:
            specs = load_config(config)
        except ConfigError as exc:
            _fail(f"invalid config file\n{exc}")
    if seed is None:
        seed = secrets.randbits(32)
    _run(_serve(host, port, specs, seed, config, port_file), use_uvloop=uvloop)


async def _serve(
    host: str,
    port: int,
    specs: tuple[ProxySpec, ...],
    seed: int,
    config: Path | None,
    port_file: Path | None,
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
                _fail(f"{config}: cannot create the proxies: {exc.message}")
        server = ApiServer(manager, host=host, port=port)
        try:
            await server.start()
        except OSError as exc:
            _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        try:
            bound_host, bound_port = server.address or (host, port)
            if port_file is not None:
                _write_atomically(port_file, f"{_host_port(bound_host, bound_port)}\n")
            _err.print(
                f"cwb proxy: API on {server.url}, {len(specs)} proxies, seed {seed}",
                markup=False,
            )
            await _until_signalled()
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


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


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


def _call(api: str, action: Callable[[ToxiproxyClient], Awaitable[T]]) -> T:
    """Run one client action; API errors become a message and an exit code."""

    async def go() -> T:
        async with ToxiproxyClient(api) as client:
            return await action(client)

    try:
        return asyncio.run(go())
    except ProxyApiError as exc:
        _fail(exc.message, 2 if 400 <= exc.status < 500 else 1)
    except ProxyApiUnreachable:
        _fail(f"cannot reach the proxy API at {api} (is `cwb proxy` running?)", 1)
    except ProxyClientError as exc:
        _fail(str(exc), 1)


@proxy_app.command("list")
def list_proxies(api: ApiOption = DEFAULT_API) -> None:
    """List the proxies and their toxics."""
    proxies = _call(api, lambda c: c.proxies())
    if not proxies:
        _out.print("no proxies", markup=False)
        return
    table = Table("Name", "Listen", "Upstream", "Enabled", "Toxics")
    for proxy in sorted(proxies.values(), key=lambda p: p.name):
        toxics = ", ".join(t.name for t in proxy.toxics) or "none"
        table.add_row(proxy.name, proxy.listen, proxy.upstream, str(proxy.enabled).lower(), toxics)
    _out.print(table)


@proxy_app.command("inspect")
def inspect(name: str, api: ApiOption = DEFAULT_API) -> None:
    """Show one proxy and its toxics, with their attributes."""
    proxy = _call(api, lambda c: c.proxy(name))
    _print_proxy(proxy)


def _print_proxy(proxy: RemoteProxy) -> None:
    state = "enabled" if proxy.enabled else "disabled"
    _out.print(f"{proxy.name}: {proxy.listen} -> {proxy.upstream} ({state})", markup=False)
    for toxic in proxy.toxics:
        attrs = json.dumps(toxic.attributes, separators=(",", ":"))
        _out.print(
            f"  {toxic.name}: {toxic.type} {toxic.stream} toxicity={toxic.toxicity} {attrs}",
            markup=False,
        )
    if not proxy.toxics:
        _out.print("  no toxics", markup=False)


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
    proxy = _call(api, lambda c: c.create_proxy(name, upstream, listen=listen))
    _out.print(f"Created new proxy {proxy.name} listening on {proxy.listen}", markup=False)


@proxy_app.command("toggle")
def toggle(name: str, api: ApiOption = DEFAULT_API) -> None:
    """Disable an enabled proxy (down), or enable a disabled one."""

    async def flip(client: ToxiproxyClient) -> RemoteProxy:
        proxy = await client.proxy(name)
        return await client.update_proxy(name, enabled=not proxy.enabled)

    proxy = _call(api, flip)
    _out.print(f"Proxy {proxy.name} is now {'enabled' if proxy.enabled else 'disabled'}")


@proxy_app.command("delete")
def delete(name: str, api: ApiOption = DEFAULT_API) -> None:
    """Delete a proxy (its listener closes, its connections drop)."""
    _call(api, lambda c: c.delete_proxy(name))
    _out.print(f"Deleted proxy {name}", markup=False)


# -- toxics ------------------------------------------------------------------------------------

AttrOption = Annotated[
    list[str] | None,
    typer.Option(
        "--attribute",
        "-a",
        help="key=value; the value is read as JSON when it parses (1000, 0.5, true), else text.",
    ),
]
ToxicityOption = Annotated[
    float | None, typer.Option("--toxicity", min=0.0, max=1.0, help="Share of connections.")
]


def _attributes(pairs: list[str] | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, text = pair.partition("=")
        if not sep or not key:
            _fail(f"attribute {pair!r}: expected key=value")
        try:
            attributes[key] = json.loads(text)
        except ValueError:
            attributes[key] = text
    return attributes


@toxic_app.command("add")
def toxic_add(
    proxy: str,
    type: Annotated[str, typer.Option("--type", "-t", help="Toxic type, e.g. latency.")],
    name: Annotated[
        str | None, typer.Option("--name", "-n", help="Default: <type>_<stream>.")
    ] = None,
    upstream: Annotated[
        bool, typer.Option("--upstream", "-u", help="Act on client → server bytes.")
    ] = False,
    toxicity: ToxicityOption = None,
    attribute: AttrOption = None,
    api: ApiOption = DEFAULT_API,
) -> None:
    """Add a toxic to a proxy (downstream unless --upstream)."""
    stream = "upstream" if upstream else "downstream"
    toxic = _call(
        api,
        lambda c: c.create_toxic(
            proxy,
            type=type,
            name=name,
            stream=stream,
            toxicity=1.0 if toxicity is None else toxicity,
            attributes=_attributes(attribute),
        ),
    )
    _out.print(
        f"Added {toxic.stream} {toxic.type} toxic '{toxic.name}' on proxy '{proxy}'", markup=False
    )


@toxic_app.command("update")
def toxic_update(
    proxy: str,
    name: Annotated[str, typer.Option("--name", "-n", help="The toxic to change.")],
    toxicity: ToxicityOption = None,
    attribute: AttrOption = None,
    api: ApiOption = DEFAULT_API,
) -> None:
    """Change a toxic's toxicity or attributes (the others keep their values)."""
    attributes = _attributes(attribute)
    if toxicity is None and not attributes:
        _fail("nothing to update: give --toxicity and/or -a key=value")
    _call(
        api,
        lambda c: c.update_toxic(proxy, name, toxicity=toxicity, attributes=attributes or None),
    )
    _out.print(f"Updated toxic '{name}' on proxy '{proxy}'", markup=False)


@toxic_app.command("remove")
def toxic_remove(
    proxy: str,
    name: Annotated[str, typer.Option("--name", "-n", help="The toxic to remove.")],
    api: ApiOption = DEFAULT_API,
) -> None:
    """Remove a toxic (an error if it is not there)."""

    async def remove(client: ToxiproxyClient) -> None:
        await client.toxic(proxy, name)  # a typo must say "toxic not found", not succeed
        await client.remove_toxic(proxy, name)

    _call(api, remove)
    _out.print(f"Removed toxic '{name}' on proxy '{proxy}'", markup=False)


@toxic_app.command("list")
def toxic_list(proxy: str, api: ApiOption = DEFAULT_API) -> None:
    """List a proxy's toxics."""
    _print_proxy(_call(api, lambda c: c.proxy(proxy)))


def main() -> None:
    """``python -m chaos_workbench.proxy.cli``: the ``cwb proxy`` app on its own."""
    with contextlib.suppress(KeyboardInterrupt):
        proxy_app(prog_name="cwb proxy")


if __name__ == "__main__":
    main()
