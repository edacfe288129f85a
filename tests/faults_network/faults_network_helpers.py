"""Helpers for the network fault tests: the rig, round-trip timing through a proxy."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

from chaos_workbench.faults.base import FaultContext
from chaos_workbench.proxy.client import ToxiproxyClient
from chaos_workbench.proxy.manager import ProxyManager


@dataclass
class Rig:
    client: ToxiproxyClient
    ctx: FaultContext
    manager: ProxyManager

    async def proxy(self, name: str, upstream: str) -> tuple[str, int]:
        created = await self.client.create_proxy(name, upstream)
        host, _, port = created.listen.rpartition(":")
        return host, int(port)


@dataclass
class HttpUpstream:
    address: str = ""
    hits: int = 0


async def round_trip_ms(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, payload: bytes = b"x" * 16
) -> float:
    """Send ``payload`` to an echo server and time until all of it is back."""
    start = time.perf_counter()
    writer.write(payload)
    await writer.drain()
    await asyncio.wait_for(reader.readexactly(len(payload)), 10)
    return (time.perf_counter() - start) * 1000


async def median_rtt_ms(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, samples: int = 5
) -> float:
    return statistics.median([await round_trip_ms(reader, writer) for _ in range(samples)])
