"""The window feed: every window the load driver emits, kept in order and awaitable.

The driver runs for the whole suite; experiments ask the feed for the windows of a time
span and wait until that span is covered (a window is emitted only once all of its requests
finished or timed out, so waiting for coverage means waiting for final numbers).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator

from chaos_workbench.traffic.window import Window

__all__ = ["FeedClosed", "WindowFeed"]


class FeedClosed(Exception):
    """The load driver stopped before the requested span was covered."""


class WindowFeed:
    """Collects windows from an async iterator in a background task."""

    def __init__(self, source: AsyncIterator[Window]) -> None:
        self._source = source
        self._windows: list[Window] = []
        self._changed = asyncio.Condition()
        self._closed = False
        self._error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._pump(), name="cwb-window-feed")

    async def _pump(self) -> None:
        try:
            async for window in self._source:
                async with self._changed:
                    self._windows.append(window)
                    self._changed.notify_all()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the driver broke: experiments waiting must hear of it
            self._error = exc
        finally:
            async with self._changed:
                self._closed = True
                self._changed.notify_all()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def between(self, start_ns: int, end_ns: int) -> list[Window]:
        """Windows that overlap ``[start_ns, end_ns)``."""
        return [w for w in self._windows if w.end_ns > start_ns and w.start_ns < end_ns]

    def forget_requests_before(self, before_ns: int) -> None:
        """Drop the per-request outcomes of windows ending before ``before_ns``.

        The windows stay (their counts and histograms serve the statistics); only the
        request-by-request detail, needed from an experiment's injection onwards, goes, so
        a long run keeps a bounded amount of it.
        """
        self._windows = [
            dataclasses.replace(w, outcomes=None)
            if w.outcomes is not None and w.end_ns < before_ns
            else w
            for w in self._windows
        ]

    def latest_end_ns(self) -> int:
        return self._windows[-1].end_ns if self._windows else 0

    async def wait_covered(self, end_ns: int, *, timeout_s: float) -> None:
        """Wait until a window ending at or after ``end_ns`` has arrived."""
        deadline = time.monotonic() + timeout_s
        async with self._changed:
            while self.latest_end_ns() < end_ns:
                if self._closed:
                    reason = f": {self._error}" if self._error else ""
                    raise FeedClosed(f"the load driver stopped{reason}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FeedClosed(
                        f"no measurement window arrived for {timeout_s:.1f} s: "
                        "the load driver has stalled"
                    )
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except TimeoutError:
                    continue

    async def windows_after(self, start_ns: int) -> AsyncIterator[Window]:
        """Every window ending after ``start_ns``, now and as they arrive (until closed)."""
        index = 0
        while True:
            async with self._changed:
                while index >= len(self._windows):
                    if self._closed:
                        return
                    await self._changed.wait()
                batch = self._windows[index:]
                index = len(self._windows)
            for window in batch:
                if window.end_ns > start_ns:
                    yield window
