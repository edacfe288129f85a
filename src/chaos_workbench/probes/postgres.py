"""PostgreSQL probe: a query (default ``SELECT 1``) through an asyncpg pool.

The pool is created on first use and again after it breaks, so a database that is down
when the run starts, or restarts mid-run, is measured as errors and then as recovered.
Server-side errors (a failing query, "the database system is shutting down") count as
``OTHER``; connection failures keep their socket-level kind.
"""

from __future__ import annotations

import asyncio

import asyncpg

from chaos_workbench.probes.base import Prober, classify_os_error
from chaos_workbench.probes.spec import PostgresProbeSpec
from chaos_workbench.traffic.window import ErrorKind

__all__ = ["PostgresProber"]


def _retrieve(task: asyncio.Task[asyncpg.Pool]) -> None:
    """Mark a failed creation's exception as seen (the callers that awaited it report it)."""
    if not task.cancelled():
        task.exception()


class PostgresProber(Prober):
    """Runs ``spec.query`` once per call on a pooled connection."""

    def __init__(self, spec: PostgresProbeSpec) -> None:
        self.spec = spec
        self._pool: asyncpg.Pool | None = None
        self._creating: asyncio.Task[asyncpg.Pool] | None = None

    async def _create(self) -> asyncpg.Pool:
        pool = await asyncpg.create_pool(
            self.spec.dsn,
            min_size=1,
            max_size=min(self.spec.max_in_flight, 10),  # a probe, not a load test
            timeout=self.spec.timeout_ms / 1000,
            command_timeout=self.spec.timeout_ms / 1000,
        )
        self._pool = pool
        return pool

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is not None:
            return self._pool
        task = self._creating
        if task is None or task.done():  # none yet, or the last attempt failed: try again
            task = self._creating = asyncio.get_running_loop().create_task(self._create())
            task.add_done_callback(_retrieve)
        # One pool for all concurrent callers; a caller's timeout does not cancel its creation
        # (a half-made pool would leak its connections).
        return await asyncio.shield(task)

    async def call(self) -> None:
        pool = await self._get_pool()
        await pool.fetchval(self.spec.query)

    def classify(self, exc: BaseException) -> ErrorKind:
        if isinstance(exc, asyncpg.PostgresError):
            return ErrorKind.OTHER
        kind = classify_os_error(exc)
        if kind is ErrorKind.OTHER and isinstance(
            exc, asyncpg.ConnectionDoesNotExistError | asyncpg.InterfaceError
        ):
            return ErrorKind.RESET
        return kind

    async def aclose(self) -> None:
        if self._creating is not None and not self._creating.done():
            self._creating.cancel()
            await asyncio.gather(self._creating, return_exceptions=True)
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.terminate()
