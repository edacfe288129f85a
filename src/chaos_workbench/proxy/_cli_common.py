"""What ``cwb proxy`` and ``cwb toxic`` share: the ``--api`` option, output, one client call.

A client command runs one :class:`~chaos_workbench.proxy.client.ToxiproxyClient` action
through :func:`call`, which turns an API error into one line on stderr and an exit code (2
for a mistake, an API 4xx; 1 for an unreachable API or a server error), never a traceback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console

from chaos_workbench.proxy.client import (
    ProxyApiError,
    ProxyApiUnreachable,
    ProxyClientError,
    RemoteProxy,
    ToxiproxyClient,
)

__all__ = ["DEFAULT_API", "ApiOption", "call", "err", "fail", "out", "print_proxy"]

DEFAULT_API = "http://127.0.0.1:8474"

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

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


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"error: {message}", markup=False)
    raise typer.Exit(code)


def call(api: str, action: Callable[[ToxiproxyClient], Awaitable[T]]) -> T:
    """Run one client action; API errors become a message and an exit code."""

    async def go() -> T:
        async with ToxiproxyClient(api) as client:
            return await action(client)

    try:
        return asyncio.run(go())
    except ProxyApiError as exc:
        fail(exc.message, 2 if 400 <= exc.status < 500 else 1)
    except ProxyApiUnreachable:
        fail(f"cannot reach the proxy API at {api} (is `cwb proxy` running?)", 1)
    except ProxyClientError as exc:
        fail(str(exc), 1)


def print_proxy(proxy: RemoteProxy) -> None:
    state = "enabled" if proxy.enabled else "disabled"
    out.print(f"{proxy.name}: {proxy.listen} -> {proxy.upstream} ({state})", markup=False)
    for toxic in proxy.toxics:
        attrs = json.dumps(toxic.attributes, separators=(",", ":"))
        out.print(
            f"  {toxic.name}: {toxic.type} {toxic.stream} toxicity={toxic.toxicity} {attrs}",
            markup=False,
        )
    if not proxy.toxics:
        out.print("  no toxics", markup=False)
