"""Warm-up: before the first experiment, wait until the service is at steady state.

A service often answers errors for its first seconds (caches filling, a JIT, connection
pools opening). Injecting then would make the first experiments inconclusive, so the run
waits, up to ``defaults.warmup_timeout_s``, until the SLO held on ``stable_windows``
consecutive windows — the same streak that counts as recovered after a fault. The run
records how long that took; a service that never gets there ends the run before anything
is injected (exit 1), with what the last windows measured.
"""

from __future__ import annotations

import asyncio

from chaos_workbench.analysis.impact import window_holds_slo
from chaos_workbench.analysis.spec import Slo
from chaos_workbench.engine.errors import RunAborted
from chaos_workbench.engine.feed import WindowFeed
from chaos_workbench.traffic.window import Window, merge_windows

__all__ = ["WarmupFailed", "warm_up"]


class WarmupFailed(RunAborted):
    """The service did not reach steady state within the warm-up bound (exit code 1)."""


async def warm_up(
    feed: WindowFeed, slo: Slo, *, stable_windows: int, timeout_s: float, since_ns: int
) -> float:
    """Seconds from ``since_ns`` (the start of measurement) until steady state held.

    Returns 0 at once when ``timeout_s`` is 0 (warm-up disabled). Raises
    :class:`WarmupFailed` when no streak of ``stable_windows`` SLO-holding windows is
    complete within ``timeout_s``.
    """
    if timeout_s <= 0:
        return 0.0
    recent: list[Window] = []
    streak = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for window in feed.windows_after(since_ns):
                recent = [*recent[-(stable_windows * 4) :], window]
                held = window_holds_slo(window, slo)
                if held is None:
                    continue  # nothing measured: neither counts nor breaks a streak
                streak = streak + 1 if held else 0
                if streak >= stable_windows:
                    return max(0.0, (window.end_ns - since_ns) / 1e9)
    except TimeoutError:
        pass
    raise WarmupFailed(_failure(recent, slo, timeout_s), exit_code=1)


def _failure(recent: list[Window], slo: Slo, timeout_s: float) -> str:
    base = (
        f"the service did not reach steady state within the {timeout_s:g} s warm-up "
        f"(defaults.warmup_timeout_s): nothing was injected"
    )
    merged = merge_windows(recent)
    if merged.requests == 0:
        return f"{base}; no request completed"
    ratio = merged.success_ratio or 0.0
    parts = [f"success {ratio:.1%} (SLO {slo.success_ratio:.1%})"]
    p99 = merged.percentile_ms(99.0)
    if slo.p99_ms is not None and p99 is not None:
        parts.append(f"p99 {p99:.0f} ms (SLO {slo.p99_ms:g} ms)")
    return f"{base}; the last {merged.duration_ns / 1e9:.1f} s measured " + ", ".join(parts)
