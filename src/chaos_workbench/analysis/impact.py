"""Impact, recovery and verdicts: pure functions over measurement windows.

The rules (documented for users in ``docs/analysis.md``):

* A window *holds the SLO* when its success ratio is at least ``slo.success_ratio`` and, if
  the SLO sets one, its p99 latency is at most ``slo.p99_ms``. An empty window has nothing
  to judge (``None``).
* The impact of a fault comes from all fault-phase windows merged: the SLO held → ``none``;
  otherwise by success ratio: at least ``partial_outage_below`` (default 90 %) → ``degraded``,
  at least ``full_outage_below`` (default 10 %) → ``partial_outage``, else ``full_outage``.
  When statistics say the fault phase is not significantly different from the baseline,
  a broken SLO is noise, not impact: the level is ``none``.
* Recovery: after the revert, the first streak of ``stable_windows`` consecutive windows that
  hold the SLO (empty windows neither count nor break a streak). Recovery time is the start
  of that streak minus the end of the revert, never negative.
"""

from __future__ import annotations

from collections.abc import Sequence

from chaos_workbench.analysis.spec import Expectations, ImpactThresholds, Slo
from chaos_workbench.model import ExperimentStatus, ImpactLevel, PhaseStats
from chaos_workbench.traffic.window import Window, merge_windows

__all__ = [
    "classify_impact",
    "find_recovery",
    "judge",
    "phase_stats",
    "window_holds_slo",
]


def window_holds_slo(window: Window, slo: Slo) -> bool | None:
    """Whether ``window`` meets the SLO; None when it holds no request."""
    ratio = window.success_ratio
    if ratio is None:
        return None
    if ratio < slo.success_ratio:
        return False
    if slo.p99_ms is not None:
        p99 = window.percentile_ms(99.0)
        if p99 is not None and p99 > slo.p99_ms:
            return False
    return True


def classify_impact(
    fault_windows: Sequence[Window],
    slo: Slo,
    thresholds: ImpactThresholds,
    *,
    significant_change: bool | None = None,
) -> ImpactLevel:
    """The impact level of a fault phase (see the module docstring for the rules).

    ``significant_change`` is the statistics' verdict on baseline vs fault (latency or error
    ratio); ``False`` means the difference is indistinguishable from noise. With no fault
    window holding a request the service answered nothing at all: a full outage.
    """
    merged = merge_windows(fault_windows)
    held = window_holds_slo(merged, slo)
    if held is None:
        return ImpactLevel.FULL_OUTAGE
    if held or significant_change is False:
        return ImpactLevel.NONE
    ratio = merged.success_ratio or 0.0
    if ratio >= thresholds.partial_outage_below:
        return ImpactLevel.DEGRADED
    if ratio >= thresholds.full_outage_below:
        return ImpactLevel.PARTIAL_OUTAGE
    return ImpactLevel.FULL_OUTAGE


def find_recovery(
    windows: Sequence[Window], revert_end_ns: int, slo: Slo, stable_windows: int
) -> float | None:
    """Milliseconds from the end of the revert to the start of the first stable streak.

    ``windows`` are those observed after the revert, in time order. Returns None when no
    streak of ``stable_windows`` SLO-holding windows exists among them.
    """
    streak_start_ns: int | None = None
    streak = 0
    for window in windows:
        if window.end_ns <= revert_end_ns:
            continue
        held = window_holds_slo(window, slo)
        if held is None:
            continue
        if not held:
            streak, streak_start_ns = 0, None
            continue
        if streak == 0:
            streak_start_ns = window.start_ns
        streak += 1
        if streak >= stable_windows and streak_start_ns is not None:
            return max(0.0, (streak_start_ns - revert_end_ns) / 1e6)
    return None


def phase_stats(windows: Sequence[Window]) -> PhaseStats:
    """Summarise one phase's windows for the report."""
    merged = merge_windows(windows)
    return PhaseStats(
        requests=merged.requests,
        successes=merged.successes,
        errors_by_kind={str(kind): n for kind, n in sorted(merged.errors.items()) if n},
        p50_ms=merged.percentile_ms(50.0),
        p95_ms=merged.percentile_ms(95.0),
        p99_ms=merged.percentile_ms(99.0),
        duration_s=merged.duration_ns / 1e9,
    )


def judge(
    impact: ImpactLevel, recovery_time_ms: float | None, expect: Expectations
) -> tuple[ExperimentStatus, str]:
    """Pass or fail against the expectations, with the reason in words."""
    problems: list[str] = []
    if impact.worse_than(expect.max_impact):
        problems.append(
            f"impact {impact.value} is worse than the allowed {expect.max_impact.value}"
        )
    if recovery_time_ms is None:
        problems.append("did not recover within the recovery timeout")
    elif expect.recovery_within_s is not None and recovery_time_ms > expect.recovery_within_s * 1e3:
        problems.append(
            f"recovered in {recovery_time_ms / 1e3:.2f} s, later than the required "
            f"{expect.recovery_within_s:g} s"
        )
    if problems:
        return ExperimentStatus.FAILED, "; ".join(problems)
    recovered = "no impact" if impact is ImpactLevel.NONE else f"impact {impact.value}"
    timing = "" if not recovery_time_ms else f", recovered in {recovery_time_ms / 1e3:.2f} s"
    return ExperimentStatus.PASSED, f"{recovered}{timing}: within expectations"
