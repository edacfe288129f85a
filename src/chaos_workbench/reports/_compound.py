"""Words shared by every report for compound faults and sweeps.

A compound experiment lists each fault's interval; a run with sweeps states each sweep's
breaking point. One wording here, so the terminal, Markdown, JUnit and HTML reports agree.
"""

from __future__ import annotations

from chaos_workbench.model import BreakingPoint, FaultInterval, FaultResult, SweepOutcome

__all__ = ["interval_lines", "interval_text", "outcome_text", "pair_text"]


def interval_text(interval: FaultInterval) -> str:
    """``latency 200 ms on db: 0.00 s → 1.50 s`` (on the experiment's clock)."""
    start_s = interval.start_ms / 1e3
    end = "not reverted" if interval.end_ms is None else f"{interval.end_ms / 1e3:.2f} s"
    text = f"{interval.description or interval.fault}: {start_s:.2f} s → {end}"
    if interval.target and interval.target not in (interval.description or ""):
        text += f" (target {interval.target})"
    if interval.error:
        text += f" ({interval.error})"
    return text


def interval_lines(result: FaultResult) -> list[str]:
    """One line per fault of a compound experiment; none for a single fault (its phase
    bands already say when it was held)."""
    if len(result.faults) < 2:
        return []
    return [f"fault {n}: {interval_text(i)}" for n, i in enumerate(result.faults, start=1)]


def pair_text(point: BreakingPoint) -> str:
    """``200 / 400``: the value tolerated and the value that broke (``-`` when none)."""
    tolerated = "-" if point.tolerated is None else str(point.tolerated)
    breaks_at = "-" if point.breaks_at is None else str(point.breaks_at)
    return f"{tolerated} / {breaks_at}"


def outcome_text(outcome: SweepOutcome) -> str:
    """``400: failed, partial_outage, p99 812 ms``."""
    p99 = "" if outcome.fault_p99_ms is None else f", p99 {outcome.fault_p99_ms:.0f} ms"
    return f"{outcome.value}: {outcome.status.value}, {outcome.impact.value}{p99}"
