"""Guardrails: stop the running experiment early when the service is hurt too much.

Three triggers abort the experiment in progress (the fault is reverted at once, the
experiment is marked *aborted* with the reason):

* a guardrail of the suite whose condition held on every window of its last ``for_s``
  (the suite's own windows, or those of the guardrail's own probe);
* a stop file, ``run_dir/STOP``, created by anyone (``touch`` it from another shell);
* an abort request (an ``asyncio.Event`` the CLI sets on SIGUSR1).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

from chaos_workbench.engine.experiment import ExperimentRunner
from chaos_workbench.engine.feed import WindowFeed
from chaos_workbench.engine.journal import Journal
from chaos_workbench.experiments.schema import GuardrailSpec, Suite
from chaos_workbench.probes import probe_driver
from chaos_workbench.traffic.window import Window

__all__ = ["STOP_FILE", "GuardrailWatch", "breached"]

STOP_FILE = "STOP"
_STOP_POLL_S = 0.25  # as fine as a measurement window: checking faster would not abort sooner


def breached(guardrail: GuardrailSpec, windows: list[Window], now_ns: int) -> bool:
    """True when every non-empty window of the last ``for_s`` breaks the guardrail.

    Needs windows that span the whole ``for_s``; a shorter history never trips it.
    """
    since_ns = now_ns - int(guardrail.for_s * 1e9)
    recent = [w for w in windows if w.end_ns > since_ns and w.requests > 0]
    if not recent or recent[0].start_ns > since_ns + recent[0].duration_ns:
        return False
    for w in recent:
        bad = False
        if guardrail.success_ratio_below is not None:
            bad = bad or (w.success_ratio or 0.0) < guardrail.success_ratio_below
        if guardrail.p99_ms_above is not None:
            p99 = w.percentile_ms(99.0)
            bad = bad or (p99 is not None and p99 > guardrail.p99_ms_above)
        if not bad:
            return False
    return True


def _describe(guardrail: GuardrailSpec) -> str:
    parts = []
    if guardrail.success_ratio_below is not None:
        parts.append(f"success ratio below {guardrail.success_ratio_below:.1%}")
    if guardrail.p99_ms_above is not None:
        parts.append(f"p99 above {guardrail.p99_ms_above:g} ms")
    label = f"guardrail {guardrail.name!r}: " if guardrail.name else "guardrail: "
    if guardrail.probe is not None:
        label += f"{guardrail.probe.kind} probe "
    return label + " or ".join(parts) + f" for {guardrail.for_s:g} s"


class GuardrailWatch:
    """Watches windows and the stop file while the suite runs."""

    def __init__(
        self,
        suite: Suite,
        feed: WindowFeed,
        runner: ExperimentRunner,
        *,
        run_dir: Path,
        journal: Journal,
        requested: asyncio.Event | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._suite = suite
        self._feed = feed
        self._runner = runner
        self._stop_file = run_dir / STOP_FILE
        self._journal = journal
        self._tasks: list[asyncio.Task[None]] = []
        self._requested = requested
        self._rng = rng or random.Random(0)

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._watch_stop_file(), name="cwb-stop-file"))
        if self._requested is not None:
            self._tasks.append(asyncio.create_task(self._watch_requests(), name="cwb-abort"))
        if any(g.probe is None for g in self._suite.guardrails):
            self._tasks.append(asyncio.create_task(self._watch_windows(), name="cwb-guardrails"))
        for guardrail in self._suite.guardrails:
            if guardrail.probe is not None:
                task = asyncio.create_task(self._watch_probe(guardrail), name="cwb-guard-probe")
                self._tasks.append(task)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def trigger(self, reason: str) -> None:
        """Abort the experiment in progress (if a fault is being held)."""
        if self._runner.abort.is_set():
            return
        self._runner.abort_reason.append(reason)
        self._runner.abort.set()
        self._journal.write("abort", reason=reason)

    async def _watch_stop_file(self) -> None:
        while True:
            if self._stop_file.exists():
                with contextlib.suppress(OSError):
                    self._stop_file.unlink()
                self.trigger(f"stop file {self._stop_file} was created")
            await asyncio.sleep(_STOP_POLL_S)

    async def _watch_requests(self) -> None:
        assert self._requested is not None
        while True:
            await self._requested.wait()
            self._requested.clear()
            self.trigger("abort requested by the operator (SIGUSR1)")

    async def _watch_windows(self) -> None:
        guardrails = [g for g in self._suite.guardrails if g.probe is None]
        await self._check(guardrails, self._feed.windows_after(time.monotonic_ns()))

    async def _watch_probe(self, guardrail: GuardrailSpec) -> None:
        assert guardrail.probe is not None
        window_ms = self._suite.defaults.window_ms
        async with probe_driver(guardrail.probe, rng=self._rng, window_ms=window_ms) as driver:
            await self._check([guardrail], driver.windows())

    async def _check(self, guardrails: list[GuardrailSpec], windows: AsyncIterator[Window]) -> None:
        recent: list[Window] = []
        horizon_s = max(g.for_s for g in guardrails) + 1.0
        async for window in windows:
            recent.append(window)
            cutoff = window.end_ns - int(horizon_s * 1e9)
            recent = [w for w in recent if w.end_ns > cutoff]
            for guardrail in guardrails:
                if breached(guardrail, recent, window.end_ns):
                    self.trigger(_describe(guardrail))
