"""PostgreSQL probe: a query (default ``SELECT 1``) through an asyncpg pool.

The pool is created on first use and again after it breaks, so a database that is down
when the run starts, or restarts mid-run, is measured as errors and then as recovered.
Server-side errors (a failing query, "the database system is shutting down") count as
``OTHER``; connection failures keep their socket-level kind.
"""

from __future__ import annotations

import asyncpg

from chaos_workbench.probes.base import Prober, classify_os_error
from chaos_workbench.probes.spec import PostgresProbeSpec
from chaos_workbench.traffic.window import ErrorKind

__all__ = ["PostgresProber"]


class PostgresProber(Prober):
    """Runs ``spec.query`` once per call on a pooled connection."""

    def __init__(self, spec: PostgresProbeSpec) -> None:
        self.spec = spec
        self._pool: asyncpg.Pool | None = None

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self.spec.dsn,
                min_size=1,
                max_size=min(self.spec.max_in_flight, 10),  # a probe, not a load test
                timeout=self.spec.timeout_ms / 1000,
                command_timeout=self.spec.timeout_ms / 1000,
            )
        return self._pool

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
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.terminate()
