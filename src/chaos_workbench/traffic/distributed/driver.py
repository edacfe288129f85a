"""The coordinator of a distributed load run: Dask workers send, this side merges windows.

``async with DistributedLoadDriver(spec, seed=…, workers=N) as d: async for w in d.windows()``
behaves like :class:`~chaos_workbench.traffic.driver.LoadDriver` to its reader (the engine,
``cwb load``): final windows in order on this machine's monotonic clock, ``stop()``,
``stats``, ``keep_requests``. Without ``scheduler`` it starts a Dask ``LocalCluster`` of N
worker processes on loopback (no dashboard, logs silenced) and closes it at the end; with
``scheduler`` it connects to a running one, whose host must be on loopback unless allowed.

Start: every worker first imports the share module (``Client.run``: the worker installs
nothing, the package must be importable there). Then this side picks a start instant one
``lead_s`` ahead on the wall clock, sends it with each share's plan (one task per share,
pinned to its worker so Dask never re-runs a share elsewhere), and maps it onto its own
monotonic clock: window ``k`` of the run starts ``k`` windows after that instant.

Streaming: workers publish each final window as a Dask structured event (a few a second
per worker, never per request); this side subscribes to the run's topic, so windows arrive
pushed, not polled, and :class:`.ShareMerger` releases each run window once every share
sent it. A share that falls silent is reported as lost (see :mod:`.merge`).

Stop: cancelling the shares' tasks; each worker sees it within 0.1 s, drains its requests
in flight, publishes its last windows and ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Collection
from typing import Any
from urllib.parse import urlsplit

from chaos_workbench.aio import AsyncResource
from chaos_workbench.errors import WorkbenchError
from chaos_workbench.host.address import host_is_loopback
from chaos_workbench.traffic.distributed.merge import ShareLoss, ShareMerger
from chaos_workbench.traffic.distributed.share import drive_share, warm
from chaos_workbench.traffic.distributed.wire import (
    MESSAGE,
    ShareDone,
    ShareFailed,
    SharePlan,
    ShareStarted,
    decode_window,
)
from chaos_workbench.traffic.schedule import RateProfile
from chaos_workbench.traffic.spec import TrafficSpec
from chaos_workbench.traffic.stats import DriverStats
from chaos_workbench.traffic.window import Window, merge_windows

__all__ = [
    "LOCAL_CLUSTER_OPTIONS",
    "DistributedLoadDriver",
    "DistributedLoadError",
    "check_scheduler",
]

_CONNECT_TIMEOUT_S = 10.0
# A LocalCluster on loopback: one thread per worker process (each paces its share on its
# own event loop), no dashboard. The scheduler's own HTTP server (/health) would still take
# port 8787 on every interface, or warn when it is taken, hence its loopback port 0.
LOCAL_CLUSTER_OPTIONS: dict[str, Any] = {
    "threads_per_worker": 1,
    "processes": True,
    "host": "127.0.0.1",
    "dashboard_address": None,
    "scheduler_kwargs": {"dashboard": False, "dashboard_address": "127.0.0.1:0"},
    "silence_logs": logging.CRITICAL,
}
_TICK_S = 0.1  # the merger checks for overdue shares this often


class DistributedLoadError(WorkbenchError):
    """Distributed load could not start: no scheduler, too few workers, or a refused host."""


def check_scheduler(address: str, allowed_hosts: Collection[str] = ()) -> str:
    """``address`` if it is ``tcp://host:port`` on loopback (or an allowed host)."""
    parts = urlsplit(address)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "tcp" or not parts.hostname or port is None:
        raise DistributedLoadError(
            f"expected a Dask scheduler address tcp://host:port, got {address!r}"
        )
    if not host_is_loopback(parts.hostname) and parts.hostname not in allowed_hosts:
        raise DistributedLoadError(
            f"scheduler host {parts.hostname!r} is not on loopback; "
            "allow it explicitly (blast_radius.hosts, or --allow-host for cwb load)"
        )
    return address


class DistributedLoadDriver(AsyncResource):
    """The load of ``spec`` split over Dask workers; windows merged here (module docstring)."""

    keep_requests: bool = False
    """Set before entering: windows then carry each request's outcome (17 bytes a request)."""

    def __init__(
        self,
        spec: TrafficSpec,
        *,
        seed: int,
        window_ms: int = 250,
        duration_s: float | None = None,
        workers: int | None = None,
        scheduler: str | None = None,
        allowed_hosts: Collection[str] = (),
        lead_s: float = 1.0,
        grace_s: float = 2.0,
        on_share_window: Callable[[int, Window], None] | None = None,
    ) -> None:
        if spec.mode != "open":
            raise DistributedLoadError("distributed load splits an open-loop rate (mode: open)")
        if workers is None and scheduler is None:
            raise DistributedLoadError("give workers (a local cluster) or a scheduler address")
        if workers is not None and workers < 1:
            raise DistributedLoadError(f"workers must be at least 1, got {workers}")
        self.spec = spec
        self.scheduler = None if scheduler is None else check_scheduler(scheduler, allowed_hosts)
        self.workers = workers
        self._seed = seed
        self._window_ns = int(window_ms * 1_000_000)
        self._window_ms = window_ms
        self._duration_s = duration_s
        self._lead_ns = int(lead_s * 1e9)
        self._grace_ns = int(grace_s * 1e9)
        self._on_share_window = on_share_window
        self._profile = (
            RateProfile.stages(spec.rate_per_s, [(s.duration_s, s.rate_per_s) for s in spec.stages])
            if spec.stages
            else RateProfile.constant(spec.rate_per_s, duration_s)
        )
        self._cluster: Any = None
        self._client: Any = None
        self._futures: list[Any] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._queue: asyncio.Queue[Window | None] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._ended = asyncio.Event()
        self._merger: ShareMerger | None = None
        self._stopping = False
        self._topic = f"cwb-load-{secrets.token_hex(6)}"
        self._total: Window | None = None
        self._emitted = 0
        self._behind = 0
        self._done: dict[int, ShareDone] = {}
        self.start_ns = 0
        self.worker_pids: dict[str, int] = {}
        self.start_errors_ms: dict[int, float] = {}

    # -- start -----------------------------------------------------------------------------
    async def _on_enter(self) -> None:
        from distributed import Client, LocalCluster

        try:
            if self.scheduler is None:
                self._cluster = await LocalCluster(  # type: ignore[no-untyped-call]
                    n_workers=self.workers, asynchronous=True, **LOCAL_CLUSTER_OPTIONS
                )
            target = self._cluster if self._cluster is not None else self.scheduler
            self._client = await Client(  # type: ignore[no-untyped-call]
                target, asynchronous=True, timeout=_CONNECT_TIMEOUT_S
            )
            # Imports the share module on every worker (and names them): nothing is installed.
            self.worker_pids = dict(await self._client.run(warm))
        except (OSError, TimeoutError) as exc:
            await self.aclose()
            where = self.scheduler or "a local cluster"
            raise DistributedLoadError(f"cannot use {where}: {exc}") from None
        except BaseException:
            await self.aclose()
            raise
        addresses = sorted(self.worker_pids)
        shares = self.workers if self.workers is not None else len(addresses)
        if not addresses or shares > len(addresses):
            await self.aclose()
            raise DistributedLoadError(
                f"{shares} workers asked for, the scheduler has {len(addresses)}"
            )
        self._client.subscribe_topic(self._topic, self._on_event)
        wall_ns, mono_ns = time.time_ns(), time.monotonic_ns()
        start_unix_ns, self.start_ns = wall_ns + self._lead_ns, mono_ns + self._lead_ns
        self._merger = ShareMerger(
            shares, self.start_ns, self._window_ns, int(self.spec.timeout_ms * 1e6) + self._grace_ns
        )
        for share in range(shares):
            plan = SharePlan(
                topic=self._topic,
                share=share,
                shares=shares,
                spec=self.spec,
                start_unix_ns=start_unix_ns,
                window_ms=self._window_ms,
                duration_s=self._duration_s,
                seed=self._seed,
                keep_requests=self.keep_requests,
            )
            future = self._client.submit(
                drive_share,
                plan,
                key=f"{self._topic}-share-{share}",
                workers=[addresses[share]],
                allow_other_workers=False,  # a share never runs twice, nor late elsewhere
                pure=False,
            )
            self._futures.append(future)
            self._tasks.append(asyncio.create_task(self._watch_task(share, future)))
        self._tasks.append(asyncio.create_task(self._pump()))

    # -- messages and windows --------------------------------------------------------------
    def _on_event(self, event: tuple[float, Any]) -> None:
        merger = self._merger
        if merger is None:
            return
        payload = dict(event[1])
        payload.pop("worker", None)  # the scheduler stamps each worker event with its sender
        message = MESSAGE.validate_python(payload)
        if isinstance(message, ShareStarted):
            merger.started(message.share, message.address)
            self.start_errors_ms[message.share] = message.start_error_ms
        elif isinstance(message, ShareDone):
            self._done[message.share] = message
            merger.done(message.share, message.last_index)
        elif isinstance(message, ShareFailed):
            merger.lose(message.share, message.reason)
        else:
            window = decode_window(message, self.start_ns, self._window_ns)
            if self._on_share_window is not None:
                self._on_share_window(message.share, window)
            merger.add(message.share, message.index, window)
        self._wake.set()

    async def _watch_task(self, share: int, future: Any) -> None:
        """A share's task that fails (not one we cancelled) loses the share at once."""
        try:
            await future
        except Exception as exc:
            if not self._stopping and self._merger is not None:
                self._merger.lose(share, f"its task failed: {type(exc).__name__}: {exc}")
                self._wake.set()

    async def _pump(self) -> None:
        merger = self._merger
        assert merger is not None
        while True:
            for window in merger.release(time.monotonic_ns()):
                self._count(window)
                self._queue.put_nowait(window)
            if merger.finished:
                break
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), _TICK_S)
        self._ended.set()
        self._queue.put_nowait(None)

    def _count(self, window: Window) -> None:
        self._emitted += 1
        self._behind += window.behind_schedule
        plain = type(window)(window.start_ns, window.duration_ns, 0, 0)  # no outcomes kept
        self._total = merge_windows((self._total or plain, window))

    async def windows(self) -> AsyncIterator[Window]:
        """Each run window once final, in order; ends after the last one."""
        if self._merger is None:
            raise RuntimeError("start the driver first (async with DistributedLoadDriver(...))")
        while True:
            window = await self._queue.get()
            if window is None:
                return
            yield window

    # -- stop ------------------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self) -> None:
        """Stop every share (they drain what is in flight and send their last windows)."""
        if self._stopping:
            return
        self._stopping = True
        if self._client is not None and self._futures:
            self._tasks.append(asyncio.create_task(self._cancel_shares()))

    async def _cancel_shares(self) -> None:
        with contextlib.suppress(Exception):
            await self._client.cancel(self._futures)

    async def aclose(self) -> None:
        """Stop, wait for the last windows (bounded), then close the client and cluster."""
        self.stop()
        if self._merger is not None and not self._ended.is_set():
            bound_s = self.spec.timeout_ms / 1000 + (self._grace_ns + self._window_ns) / 1e9 + 2.0
            try:
                await asyncio.wait_for(self._ended.wait(), bound_s)
            except TimeoutError:
                for share in range(self._merger.shares):
                    self._merger.lose(share, f"did not end within {bound_s:.1f} s of the stop")
                self._wake.set()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ended.wait(), 1.0)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        if client is not None:
            with contextlib.suppress(Exception):
                client.unsubscribe_topic(self._topic)
            await client.close()
        if cluster is not None:
            await cluster.close()

    # -- what the run says -----------------------------------------------------------------
    @property
    def lost_shares(self) -> tuple[ShareLoss, ...]:
        """Shares that stopped reporting, in share order: their load is missing, not rescaled."""
        if self._merger is None:
            return ()
        return tuple(self._merger.lost[s] for s in sorted(self._merger.lost))

    @property
    def shares(self) -> int:
        return 0 if self._merger is None else self._merger.shares

    @property
    def stats(self) -> DriverStats:
        """Totals over the windows emitted so far, with the shares' own counts once ended."""
        total = self._total or Window(
            start_ns=self.start_ns, duration_ns=0, requests=0, successes=0
        )
        done = self._done.values()
        return DriverStats(
            total=total,
            elapsed_s=total.duration_ns / 1e9,
            sent=sum(d.sent for d in done),
            target_rate_per_s=self._profile.peak_rate_per_s,
            connections_opened=sum(d.connections_opened for d in done),
            connections_open=0,
            behind_schedule_windows=self._behind,
            windows=self._emitted,
            send_span_s=max((d.send_span_s for d in done), default=0.0),
        )
