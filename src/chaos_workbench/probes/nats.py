"""NATS probe: publish + flush (a round trip to the server) or request-reply on a subject.

Connects on first use and again after the connection is lost, so calls while the server
is down fail as refused connections (they are the measurement). Callbacks are
set so the library logs nothing on its own.
"""

from __future__ import annotations

import asyncio
import math

import nats
from nats import errors as nats_errors
from nats.aio.client import Client

from chaos_workbench.probes.base import Prober, classify_os_error
from chaos_workbench.probes.spec import NatsProbeSpec
from chaos_workbench.traffic.window import ErrorKind

__all__ = ["NatsProber"]


def _retrieve(task: asyncio.Task[Client]) -> None:
    """Mark a failed connect's exception as seen (the callers that awaited it report it)."""
    if not task.cancelled():
        task.exception()


async def _quiet(*_: object) -> None:
    """Connection events are measured through the calls; nothing to log."""


class NatsProber(Prober):
    """Publishes (and flushes) or sends a request on ``spec.subject`` once per call."""

    def __init__(self, spec: NatsProbeSpec) -> None:
        self.spec = spec
        self._client: Client | None = None
        self._payload = spec.payload.encode()
        self._last_error: BaseException | None = None
        self._connecting: asyncio.Task[Client] | None = None

    async def _on_error(self, exc: BaseException) -> None:
        self._last_error = exc  # why the connect failed: NoServersError does not say

    async def _connected(self) -> Client:
        if self._client is not None and not self._client.is_closed:
            return self._client
        task = self._connecting
        if task is None or task.done():  # none yet, or the last attempt failed or was lost
            task = self._connecting = asyncio.get_running_loop().create_task(self._connect())
            task.add_done_callback(_retrieve)
        # One connection for all concurrent callers; a caller's timeout does not cancel it.
        return await asyncio.shield(task)

    async def _connect(self) -> Client:
        timeout_s = self.spec.timeout_ms / 1000
        client = await nats.connect(
            servers=[s.strip() for s in self.spec.servers.split(",")],
            connect_timeout=timeout_s,
            # No background reconnects, and one retry at most: otherwise a first connect to a
            # server that is down retries until the deadline (a timeout, not the refusal it
            # is). A lost connection closes the client; the next call connects afresh.
            allow_reconnect=False,
            max_reconnect_attempts=1,
            reconnect_time_wait=0,
            error_cb=self._on_error,
            disconnected_cb=_quiet,
            reconnected_cb=_quiet,
            closed_cb=_quiet,
        )
        self._client = client
        return client

    async def call(self) -> None:
        client = await self._connected()
        timeout_s = self.spec.timeout_ms / 1000
        if self.spec.mode == "request":
            await client.request(self.spec.subject, self._payload, timeout=timeout_s)
        else:
            await client.publish(self.spec.subject, self._payload)
            # flush takes whole seconds; the driver's own deadline is the precise one
            await client.flush(timeout=max(1, math.ceil(timeout_s)))

    def classify(self, exc: BaseException) -> ErrorKind:
        if isinstance(exc, nats_errors.TimeoutError | nats_errors.FlushTimeoutError):
            return ErrorKind.READ_TIMEOUT
        if isinstance(exc, nats_errors.NoServersError):
            cause = self._last_error
            kind = classify_os_error(cause) if cause is not None else ErrorKind.OTHER
            if kind is ErrorKind.READ_TIMEOUT:
                return ErrorKind.CONNECT_TIMEOUT
            return kind if kind is not ErrorKind.OTHER else ErrorKind.CONNECT_REFUSED
        if isinstance(
            exc,
            nats_errors.ConnectionClosedError
            | nats_errors.ConnectionReconnectingError
            | nats_errors.UnexpectedEOF
            | nats_errors.StaleConnectionError,
        ):
            return ErrorKind.RESET
        if isinstance(exc, nats_errors.ProtocolError):
            return ErrorKind.PROTOCOL
        return classify_os_error(exc)

    async def aclose(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
        if self._client is not None and not self._client.is_closed:
            client, self._client = self._client, None
            await client.close()
