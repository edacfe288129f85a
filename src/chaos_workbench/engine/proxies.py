"""The "open proxies" step of a run: the suite's proxies on our fault proxy or the suite's API.

The built-in proxy runs as a child process in its own session, so it is the same
``cwb proxy`` users run by hand, and its toxics carry a time-to-live: a toxic left by a
crashed controller expires by itself even before the watchdog removes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from chaos_workbench.engine.errors import RunAborted
from chaos_workbench.experiments.schema import Suite
from chaos_workbench.host import started
from chaos_workbench.proxy.client import (
    ProxyApiUnreachable,
    ProxyClientError,
    ToxiproxyClient,
    start_proxy_server,
)

__all__ = ["PROXY_API_ANSWER_S", "open_proxies"]

# A Toxiproxy-compatible API answers GET /proxies in milliseconds; one silent this long
# (a wrong port that accepts but never speaks HTTP) is not going to answer.
PROXY_API_ANSWER_S = 5.0
# Its name among what the run started: a label, so it cannot be a suite process's name.
PROXY_SERVER = "fault proxy server"
PROXY_WORKDIR = "fault proxy port file"


async def _delete_proxy(client: ToxiproxyClient, name: str, notes: list[str]) -> None:
    """Delete one of the run's proxies at its end; a server gone by then is a note, not a crash."""
    try:
        await client.delete_proxy(name)
    except ProxyClientError as exc:
        notes.append(f"proxy_api: proxy {name!r} could not be deleted at the end of the run: {exc}")


async def open_proxies(
    suite: Suite,
    stack: contextlib.AsyncExitStack,
    *,
    seed: int,
    run_dir: Path,
    notes: list[str],
) -> tuple[ToxiproxyClient, int | None]:
    """Connect to the suite's Toxiproxy-compatible API (or start ours) and set up its proxies.

    Returns the client and the pid of the built-in proxy server (None for an external API).
    On an external ``proxy_api`` the suite's proxies are the run's own: one of the same name
    already there (left by a crashed run) is replaced, each is deleted when the run ends,
    and every other proxy on the server is left alone. A server that cannot be reached or
    refuses the proxies aborts the run before anything is injected; one gone by the end of
    the run leaves a note in the record.
    """
    server_pid = None
    try:
        if suite.proxy_api:
            api_url = suite.proxy_api
        else:
            (run_dir / "logs").mkdir(parents=True, exist_ok=True)
            workdir = run_dir / "proxy"  # its port file; removed by aclose
            started.record(run_dir, started.StartedDir(name=PROXY_WORKDIR, path=str(workdir)))
            stack.callback(started.forget, run_dir, PROXY_WORKDIR)
            server = await start_proxy_server(
                seed=seed, log_path=run_dir / "logs" / "proxy.log", workdir=workdir
            )
            # Recorded, so a dead run's cleanup stops it; forgotten once aclose stopped it.
            thing = started.process_record(PROXY_SERVER, server.pid)
            if thing is not None:
                started.record(run_dir, thing)
            stack.callback(started.forget, run_dir, PROXY_SERVER)
            stack.push_async_callback(server.aclose)
            api_url, server_pid = server.api_url, server.pid
        client = ToxiproxyClient(api_url)
        stack.push_async_callback(client.aclose)
        try:
            async with asyncio.timeout(PROXY_API_ANSWER_S):
                existing = await client.proxies()
        except TimeoutError:
            raise ProxyApiUnreachable(
                f"GET {client.api_url}/proxies: no answer within {PROXY_API_ANSWER_S:g} s"
            ) from None
        for proxy in suite.proxies:
            if proxy.name in existing:  # a real Toxiproxy may hold one from an earlier run
                await client.delete_proxy(proxy.name)
            await client.create_proxy(
                proxy.name, proxy.upstream, listen=proxy.listen, enabled=proxy.enabled
            )
            if suite.proxy_api:
                stack.push_async_callback(_delete_proxy, client, proxy.name, notes)
    except ProxyClientError as exc:
        if not suite.proxy_api:
            raise RunAborted(f"the fault proxy could not be set up: {exc}") from exc
        hint = " (is the server running?)" if isinstance(exc, ProxyApiUnreachable) else ""
        raise RunAborted(
            f"proxy_api {suite.proxy_api}: cannot set up the suite's proxies{hint}: {exc}",
            exit_code=2,
        ) from exc
    return client, server_pid
