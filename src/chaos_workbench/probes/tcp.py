"""TCP probe: connect and close. Is the port accepting connections, and how fast?"""

from __future__ import annotations

import asyncio
import contextlib

from chaos_workbench.host.address import split_host_port
from chaos_workbench.probes.base import Prober, classify_os_error
from chaos_workbench.probes.spec import TcpProbeSpec
from chaos_workbench.traffic.window import ErrorKind

__all__ = ["TcpProber"]


class TcpProber(Prober):
    """One connection per call, closed at once."""

    def __init__(self, spec: TcpProbeSpec) -> None:
        self.spec = spec
        self._host, self._port = split_host_port(spec.address)

    async def call(self) -> None:
        _, writer = await asyncio.open_connection(self._host, self._port)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    def classify(self, exc: BaseException) -> ErrorKind:
        kind = classify_os_error(exc)
        return ErrorKind.CONNECT_TIMEOUT if kind is ErrorKind.READ_TIMEOUT else kind
