"""Valkey / Redis probe: a command (default ``PING``) through the valkey asyncio client.

The client's own pool reconnects after failures. Connection failures are reported by the
library as ``valkey.exceptions.ConnectionError`` with the socket error as its cause (kept
by :func:`classify_os_error`); a server-side error reply counts as ``OTHER``.
"""

from __future__ import annotations

import valkey.asyncio as valkey_asyncio
from valkey import exceptions as valkey_errors

from chaos_workbench.probes.base import Prober, classify_os_error
from chaos_workbench.probes.spec import ValkeyProbeSpec
from chaos_workbench.traffic.window import ErrorKind

__all__ = ["ValkeyProber"]


class ValkeyProber(Prober):
    """Runs ``spec.command`` once per call."""

    def __init__(self, spec: ValkeyProbeSpec) -> None:
        self.spec = spec
        url = spec.url.replace("redis", "valkey", 1) if spec.url.startswith("redis") else spec.url
        timeout_s = spec.timeout_ms / 1000
        self._client = valkey_asyncio.Valkey.from_url(
            url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
        )

    async def call(self) -> None:
        await self._client.execute_command(*self.spec.command)

    def classify(self, exc: BaseException) -> ErrorKind:
        kind = classify_os_error(exc)
        if kind is not ErrorKind.OTHER:
            return kind
        if isinstance(exc, valkey_errors.TimeoutError):
            return ErrorKind.READ_TIMEOUT
        if isinstance(exc, valkey_errors.ConnectionError):
            text = str(exc).lower()
            if "refused" in text or "error 111" in text:
                return ErrorKind.CONNECT_REFUSED
            return ErrorKind.RESET
        return ErrorKind.OTHER

    async def aclose(self) -> None:
        await self._client.aclose()
