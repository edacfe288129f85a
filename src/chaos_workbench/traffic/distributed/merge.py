"""Merging the shares' windows by index into the windows the engine analyses, losses flagged.

Window ``k`` of every share covers the same slice of the plan, ``[start + k·w, start +
(k+1)·w)`` after the common start instant, so the run's window ``k`` is their exact sum:
counts added, HdrHistograms added (lossless: same bucket layout), request outcomes
concatenated. It is emitted once every share has sent it, in order.

A share that has not sent window ``k`` by its due time — the window's end, plus the
request timeout (a worker emits a window only once its requests completed or timed out),
plus ``grace_ns`` for delivery and clock skew — is *lost* from ``k`` on: window ``k`` and
every later one are emitted without it, name it in ``missing_shares`` and say
``behind_schedule`` (the load there was lighter than planned, so the existing reliability
flag of a run catches it). Nothing is rescaled. A lost share's late windows are ignored,
so a window's numbers never change after it was emitted.

After a stop the shares end at slightly different windows; windows past the first
share's last one are dropped rather than emitted short of a share.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from pydantic import BaseModel, ConfigDict

from chaos_workbench.traffic.window import RequestOutcomes, Window, merge_windows

__all__ = ["ShareLoss", "ShareMerger", "merge_parts"]


class ShareLoss(BaseModel):
    """A share that stopped reporting: from window ``first_missing_window`` on, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    share: int
    worker: str | None  # the worker's address, when it had said it started
    first_missing_window: int
    reason: str


def merge_parts(
    parts: list[Window], start_ns: int, window_ns: int, missing: tuple[int, ...]
) -> Window:
    """The run's window from the shares' windows of the same index (exact sums)."""
    merged = merge_windows(parts)
    outcomes = [w.outcomes for w in parts if w.outcomes is not None]
    joined = None
    if outcomes:
        joined = RequestOutcomes(
            np.concatenate([o.intended_ns for o in outcomes]),
            np.concatenate([o.latency_us for o in outcomes]),
            np.concatenate([o.ok for o in outcomes]),
        )
    return dataclasses.replace(
        merged,
        start_ns=start_ns,
        duration_ns=window_ns,
        behind_schedule=merged.behind_schedule or bool(missing),
        outcomes=joined,
        missing_shares=missing,
    )


class ShareMerger:
    """Collects the shares' windows and releases the run's windows in order (pure logic)."""

    def __init__(self, shares: int, start_ns: int, window_ns: int, grace_ns: int) -> None:
        self.shares = shares
        self.start_ns = start_ns
        self.window_ns = window_ns
        self.grace_ns = grace_ns  # after a window's end (and timeout): the share is lost
        self.next_index = 0
        self.workers: dict[int, str] = {}
        self.lost: dict[int, ShareLoss] = {}
        self.ignored_windows = 0  # windows that came after their share was declared lost
        self._parts: dict[int, dict[int, Window]] = {}
        self._last: dict[int, int] = {}  # share → its last window, once it ended normally

    def started(self, share: int, worker: str) -> None:
        self.workers[share] = worker

    def add(self, share: int, index: int, window: Window) -> None:
        loss = self.lost.get(share)
        if index < self.next_index or (loss is not None and index >= loss.first_missing_window):
            self.ignored_windows += 1
            return
        self._parts.setdefault(index, {})[share] = window

    def done(self, share: int, last_index: int) -> None:
        if share not in self.lost:
            self._last[share] = last_index

    def lose(self, share: int, reason: str) -> None:
        """The share will send nothing more (its task failed, its worker went away)."""
        if share in self.lost or share in self._last:
            return
        received = [k for k, parts in self._parts.items() if share in parts]
        self.lost[share] = ShareLoss(
            share=share,
            worker=self.workers.get(share),
            first_missing_window=max([self.next_index - 1, *received]) + 1,
            reason=reason,
        )

    @property
    def finished(self) -> bool:
        """Every share ended or was lost, and every window up to the end was released."""
        if len(self._last) + len(self.lost) < self.shares:
            return False
        return not self._last or self.next_index > min(self._last.values())

    def release(self, now_ns: int) -> list[Window]:
        """The run's windows that are complete at ``now_ns`` (the coordinator's clock)."""
        out: list[Window] = []
        while not self.finished:
            k = self.next_index
            if self._last and k > min(self._last.values()):
                return out  # past a share's end: waiting only for the others to end
            parts = self._parts.get(k, {})
            waiting = [
                s
                for s in range(self.shares)
                if s not in self.lost and s not in parts and s not in self._last
            ]
            if waiting:
                due_ns = self.start_ns + (k + 1) * self.window_ns + self.grace_ns
                if now_ns < due_ns:
                    return out
                for share in waiting:
                    self.lose(share, f"no window {k} within {self.grace_ns / 1e9:g} s of its end")
            missing = tuple(
                sorted(s for s, loss in self.lost.items() if k >= loss.first_missing_window)
            )
            out.append(
                merge_parts(
                    [parts[s] for s in sorted(parts) if s not in missing],
                    self.start_ns + k * self.window_ns,
                    self.window_ns,
                    missing,
                )
            )
            self._parts.pop(k, None)
            self.next_index += 1
        return out
