"""The load driver's connection pool: where each request goes, what each outcome does.

:class:`~chaos_workbench.traffic.driver.LoadDriver` gets the plan, the clock, the sweep and
the run's lifecycle from :class:`.paced.PacedDriver`; this base class owns the keep-alive
connections. A dispatched request takes an idle connection (LIFO), or opens a new one while
the pool is below its bound (:func:`max_connections`), or waits in the pending queue. Each
:class:`.http.Connection` reports back here (``on_response`` / ``on_failure`` /
``on_lost``): the outcome is recorded under its intended send time, and the connection is
reused, replaced or closed. In closed loop a finished request is followed at once by the
next one on the same connection.

It is a base class of the driver rather than an object the driver holds on purpose: the
send path and the connection callbacks run once per request, and as methods of the driver
itself they cost no extra attribute hop.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable

from chaos_workbench.traffic.http import Connection, classify_connect_error
from chaos_workbench.traffic.recorder import WindowRecorder
from chaos_workbench.traffic.requests import RequestMix, Target
from chaos_workbench.traffic.spec import TrafficSpec
from chaos_workbench.traffic.stats import RequestRecord
from chaos_workbench.traffic.window import ErrorKind

__all__ = ["DriverPool", "max_connections"]

_AUTO_MAX_CONNECTIONS = 1024  # file descriptors are plentiful; ephemeral ports less so
_RECONNECT_PAUSE_S = 0.001  # closed loop: a failed user retries after 1 ms, not in a hot spin


def max_connections(spec: TrafficSpec, peak_rate_per_s: float) -> int:
    """The pool's bound: ``users`` in closed loop, else ``connections`` when given, else
    ``rate × timeout`` (never queue until every request times out), within [8, 1024]."""
    if spec.mode == "closed":
        return spec.users or spec.connections or 1
    if spec.connections is not None:
        return spec.connections
    need = peak_rate_per_s * spec.timeout_ms / 1000
    return max(8, min(_AUTO_MAX_CONNECTIONS, math.ceil(need)))


class DriverPool(ABC):
    """The connection half of ``LoadDriver`` (its only subclass)."""

    # Set by LoadDriver and its PacedDriver base (their __init__ and start()); read here.
    target: Target
    recorder: WindowRecorder | None
    _mix: RequestMix
    _heads: tuple[bool, ...]
    _timeout_ns: int
    _connect_timeout_s: float
    _ssl: ssl.SSLContext | None
    _on_request: Callable[[RequestRecord], None] | None
    _closed_loop: bool
    _stopping: bool
    _finished: asyncio.Event
    _loop: asyncio.AbstractEventLoop | None
    _tasks: set[asyncio.Task[None]]
    _sent: int

    def __init__(self, max_conns: int) -> None:
        self._max_conns = max_conns
        self._idle: list[Connection] = []
        self._busy: set[Connection] = set()
        self._connecting = 0
        self._pending: deque[tuple[int, int, bool]] = deque()  # (intended_ns, index, retried)
        self._busy_peak = 0
        self._last_send_ns = 0
        self._opened = 0

    @abstractmethod
    def _maybe_finished(self) -> None:
        """End the run if it is stopping and nothing is in flight (``LoadDriver``'s)."""

    # -- dispatch ------------------------------------------------------------------------
    def _dispatch(self, intended_ns: int, now: int, index: int, retried: bool) -> None:
        assert self.recorder is not None
        if not retried:
            self.recorder.dispatched(intended_ns, now - intended_ns)
        if self._idle:
            self._send(self._idle.pop(), intended_ns, now, index, retried)
        elif len(self._busy) + self._connecting < self._max_conns:
            self._open(intended_ns, index, retried)
        else:
            self._pending.append((intended_ns, index, retried))

    def _send(
        self, conn: Connection, intended_ns: int, now: int, index: int, retried: bool
    ) -> None:
        self._sent += 1
        self._last_send_ns = now
        conn.send(
            self._mix.render(index),
            intended_ns,
            now,
            intended_ns + self._timeout_ns,
            index,
            self._heads[index],
            retried,
        )
        busy = self._busy
        busy.add(conn)
        if len(busy) > self._busy_peak:
            self._busy_peak = len(busy)

    def _open(self, intended_ns: int, index: int, retried: bool) -> None:
        assert self._loop is not None
        self._connecting += 1
        task = self._loop.create_task(self._connect(intended_ns, index, retried))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connect(self, intended_ns: int, index: int, retried: bool) -> None:
        assert self._loop is not None
        remaining_s = (intended_ns + self._timeout_ns - time.monotonic_ns()) / 1e9
        try:
            if remaining_s <= 0:
                raise TimeoutError
            _, conn = await asyncio.wait_for(
                self._loop.create_connection(
                    lambda: Connection(self),
                    self.target.host,
                    self.target.port,
                    ssl=self._ssl,
                    server_hostname=self.target.host if self._ssl else None,
                ),
                min(self._connect_timeout_s, remaining_s),
            )
        except (OSError, TimeoutError) as exc:
            self._connecting -= 1
            self._record(intended_ns, 0, None, 0, classify_connect_error(exc))
            self._after_connection_gone()
            return
        self._connecting -= 1
        self._opened += 1
        if self._finished.is_set():  # the run ended while this connection was opening
            conn.close()
            return
        self._send(conn, intended_ns, time.monotonic_ns(), index, retried)

    # -- outcomes (called by connections) ------------------------------------------------
    def _record(
        self,
        intended_ns: int,
        sent_ns: int,
        status: int | None,
        nbytes: int,
        error: ErrorKind | None,
        now: int = 0,
    ) -> None:
        if self._finished.is_set():
            return  # a straggler after the drain deadline: its windows are already out
        latency_ns = (now or time.monotonic_ns()) - intended_ns
        assert self.recorder is not None
        self.recorder.completed(intended_ns, latency_ns // 1000, error, nbytes)
        if self._on_request is not None:
            self._on_request(
                RequestRecord(intended_ns, sent_ns, latency_ns / 1e6, status, nbytes, error)
            )

    def on_response(self, conn: Connection, status: int, keep_alive: bool) -> None:
        error = None
        if status >= 400:
            error = ErrorKind.HTTP_5XX if status >= 500 else ErrorKind.HTTP_4XX
        self._busy.discard(conn)
        now = time.monotonic_ns()
        self._record(conn.intended_ns, conn.sent_ns, status, conn.nbytes, error, now)
        if not keep_alive:
            conn.close()
            self._after_connection_gone()
            return
        self._reuse(conn, now)

    def on_failure(self, conn: Connection, kind: ErrorKind) -> None:
        self._busy.discard(conn)
        self._record(conn.intended_ns, conn.sent_ns, None, conn.nbytes, kind)
        self._after_connection_gone()

    def on_lost(self, conn: Connection, exc: Exception | None) -> None:
        if conn in self._busy:
            self._busy.discard(conn)
            conn.busy = False
            if conn.served and conn.nbytes == 0 and not conn.retried:
                # A reused keep-alive connection the server had just closed: the request never
                # reached it. Send it again once (as browsers and wrk do), same intended time.
                self._dispatch(conn.intended_ns, time.monotonic_ns(), conn.index, True)
                return
            self._record(conn.intended_ns, conn.sent_ns, None, conn.nbytes, ErrorKind.RESET)
        else:
            with contextlib.suppress(ValueError):
                self._idle.remove(conn)
        self._after_connection_gone()

    def _reuse(self, conn: Connection, now: int) -> None:
        if self._closed_loop:
            if self._stopping:
                conn.close()
                self._maybe_finished()
                return
            assert self.recorder is not None
            self.recorder.dispatched(now, 0)
            self._send(conn, now, now, self._mix.pick(), False)
            return
        if self._pending:
            intended_ns, index, retried = self._pending.popleft()
            self._send(conn, intended_ns, now, index, retried)
            return
        self._idle.append(conn)
        if self._stopping:
            self._maybe_finished()

    def _after_connection_gone(self) -> None:
        """A connection closed or failed: replace it for whoever is waiting."""
        if self._closed_loop:
            if not self._stopping:
                assert self._loop is not None
                self._loop.call_later(_RECONNECT_PAUSE_S, self._closed_loop_user)
            else:
                self._maybe_finished()
            return
        while self._pending and len(self._busy) + self._connecting < self._max_conns:
            intended_ns, index, retried = self._pending.popleft()
            self._open(intended_ns, index, retried)
        if self._stopping:
            self._maybe_finished()

    def _closed_loop_user(self) -> None:
        if not self._stopping:
            now = time.monotonic_ns()
            self._dispatch(now, now, self._mix.pick(), False)
