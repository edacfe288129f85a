"""The valkey-sentinel example's service: an application that reaches Valkey through
Sentinel, as real ones do, behind a small HTTP API that the workbench's traffic measures.

    python -m chaos_workbench.examples.sentinel_service --port 8080 --master main \\
        --sentinel 127.0.0.1:26379 --sentinel 127.0.0.1:26380 --sentinel 127.0.0.1:26381

It uses the ``valkey`` client library's own Sentinel support
(:class:`valkey.asyncio.sentinel.Sentinel`, ``master_for``): the client asks the
Sentinels for the primary's address whenever it opens a connection, and drops its idle
connections when the address changed.

- ``GET /incr``: ``INCR`` a counter on the primary. One attempt, no retry, so a failed
  command is a failed request (503 with the error): exactly what the client saw.
- ``GET /status``: JSON ``{"primary": "127.0.0.1:6380", "writes_lost": 0}``: the primary
  the Sentinels name right now (for a fault's ``select:``; 503 while none is named), and
  how many acknowledged writes the service has seen lost so far.

Every ``INCR`` of one counter answers a new number, so a number answered twice means the
write that got it first was acknowledged and then lost: the primary now serving does not
have it (a failover to a replica that was behind, or to a server that came back empty).
The service counts those (``writes_lost``) and logs them, with every change of primary and
how long its requests failed before it, on stderr (the supervisor's log of the process)::

    writing to 127.0.0.1:6381 (was 127.0.0.1:6380) after 2131 ms and 213 failed requests
    counter answered 1 again (highest so far 1523): acknowledged writes were lost
    writes lost: 465 (counter answers seen twice)

The last line is written when the service stops: a lower bound (a write is counted once
its number has been answered again).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web
from valkey.asyncio.client import Valkey
from valkey.asyncio.sentinel import MasterNotFoundError, Sentinel
from valkey.exceptions import ValkeyError

from chaos_workbench.host.address import split_host_port

__all__ = ["COUNTER_KEY", "AnswersSeen", "ClientSettings", "Primary", "build_app", "main"]

COUNTER_KEY = "cwb:example:counter"


@dataclass(frozen=True)
class ClientSettings:
    """The valkey client's settings, explicit rather than the library's defaults (no
    timeout at all: a frozen primary would hold a request forever)."""

    socket_timeout_s: float = 0.5  # a command unanswered this long fails (a frozen primary)
    socket_connect_timeout_s: float = 0.5
    max_connections: int = 200  # bounded pool: at 100 req/s x 0.5 s timeout, 50 are in use


class AnswersSeen:
    """Which counter values were answered, one bit each: 2 MiB for the first 2**24 values
    (46 hours at 100 writes/s); larger values are not checked."""

    LIMIT = 1 << 24

    def __init__(self) -> None:
        self._bits = bytearray(self.LIMIT // 8)

    def seen_before(self, value: int) -> bool:
        """Record ``value``; True when it had been answered already."""
        if not 0 <= value < self.LIMIT:
            return False
        byte, bit = divmod(value, 8)
        seen = bool(self._bits[byte] & (1 << bit))
        self._bits[byte] |= 1 << bit
        return seen


class Primary:
    """The service's view of the primary: the client, and what it noticed about it."""

    def __init__(self, sentinel: Sentinel, client: Valkey, master: str) -> None:
        self.sentinel = sentinel
        self.client = client
        self.master = master
        self.writes_lost = 0
        self._answers = AnswersSeen()
        self._losing = False
        self._address: str | None = None
        self._highest = 0
        self._failing_since: float | None = None
        self._failed = 0

    def _pool_address(self) -> str | None:
        # SentinelConnectionPool keeps the address it last got from the Sentinels.
        address = getattr(self.client.connection_pool, "master_address", None)
        return None if address is None else f"{address[0]}:{address[1]}"

    def succeeded(self, value: int) -> None:
        address = self._pool_address()
        if address != self._address:
            gap = ""
            if self._failing_since is not None:
                gap_ms = (time.monotonic() - self._failing_since) * 1000.0
                gap = f" after {gap_ms:.0f} ms and {self._failed} failed requests"
            _log(f"writing to {address} (was {self._address}){gap}")
            self._address = address
        if self._answers.seen_before(value):
            self.writes_lost += 1
            if not self._losing:  # once per run of repeated answers, not per request
                _log(
                    f"counter answered {value} again (highest so far {self._highest}): "
                    "acknowledged writes were lost"
                )
            self._losing = True
        else:
            self._losing = False
        self._highest = max(self._highest, value)
        self._failing_since = None
        self._failed = 0

    def failed(self) -> None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()
        self._failed += 1


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


_PRIMARY = web.AppKey("primary", Primary)


async def _incr(request: web.Request) -> web.Response:
    primary = request.app[_PRIMARY]
    try:
        value = int(await primary.client.incr(COUNTER_KEY))
    except (ValkeyError, OSError) as exc:
        primary.failed()
        return web.Response(status=503, text=f"{type(exc).__name__}: {exc}\n")
    primary.succeeded(value)
    return web.Response(text=f"{value}\n")


async def _status(request: web.Request) -> web.Response:
    primary = request.app[_PRIMARY]
    body: dict[str, str | int | None] = {"writes_lost": primary.writes_lost}
    try:
        host, port = await primary.sentinel.discover_master(primary.master)
    except (MasterNotFoundError, ValkeyError, OSError) as exc:
        body.update(primary=None, error=f"{type(exc).__name__}: {exc}")
        return web.json_response(body, status=503)
    body["primary"] = f"{host}:{port}"
    return web.json_response(body)


def build_app(
    sentinels: Sequence[tuple[str, int]], master: str, settings: ClientSettings
) -> web.Application:
    """The HTTP service over a Sentinel-managed client of ``master``."""
    timeouts = {
        "socket_timeout": settings.socket_timeout_s,
        "socket_connect_timeout": settings.socket_connect_timeout_s,
    }
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        list(sentinels), sentinel_kwargs=dict(timeouts), **timeouts
    )
    client = sentinel.master_for(master, max_connections=settings.max_connections)
    app = web.Application()
    app[_PRIMARY] = Primary(sentinel, client, master)
    app.router.add_get("/incr", _incr)
    app.router.add_get("/status", _status)

    async def close(app: web.Application) -> None:
        _log(f"writes lost: {app[_PRIMARY].writes_lost} (counter answers seen twice)")
        # Close every connection, so none is left to the garbage collector's warnings.
        await client.aclose()
        for node in sentinel.sentinels:
            await node.aclose()

    app.on_cleanup.append(close)
    return app


def _address(text: str) -> tuple[str, int]:
    try:
        host, port = split_host_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return host, port


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="HTTP port (on 127.0.0.1)")
    parser.add_argument(
        "--sentinel", type=_address, action="append", required=True, help="host:port, repeated"
    )
    parser.add_argument("--master", default="main", help="the name the Sentinels monitor")
    args = parser.parse_args(argv)
    app = build_app(args.sentinel, args.master, ClientSettings())
    # run_app stops on SIGINT and SIGTERM (the supervisor's stop), running on_cleanup.
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
