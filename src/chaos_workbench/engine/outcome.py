"""Turning what one experiment measured into its :class:`~chaos_workbench.model.FaultResult`.

Pure assembly: the runner hands over the windows, the marks of its phases and the verdict;
this module labels the windows by phase for the timeline and words the expectation.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chaos_workbench.analysis.impact import window_holds_slo
from chaos_workbench.analysis.spec import Slo
from chaos_workbench.experiments.schema import ExperimentSpec
from chaos_workbench.faults import Fault
from chaos_workbench.model import (
    ExperimentStatus,
    FaultInterval,
    FaultResult,
    ImpactLevel,
    PhaseStats,
    TimelineEvent,
    WindowSummary,
)
from chaos_workbench.traffic.window import Window

__all__ = ["UNRELIABLE_WINDOW_SHARE", "Clock", "ResultBuilder", "reliable", "timeline"]


def now_ns() -> int:
    return time.monotonic_ns()


@dataclass
class Clock:
    """Timestamps of one experiment (monotonic ns) and its events for the timeline."""

    start_ns: int
    events: list[TimelineEvent] = field(default_factory=list)

    def mark(self, kind: str, message: str = "", at_ns: int | None = None) -> int:
        at = now_ns() if at_ns is None else at_ns
        self.events.append(
            TimelineEvent(t_s=(at - self.start_ns) / 1e9, kind=kind, message=message)
        )
        return at


UNRELIABLE_WINDOW_SHARE = 0.10
"""Above this share of behind-schedule windows, an experiment's numbers are flagged.

A window is behind schedule when the driver sent more than 5 % of its requests over 10 ms
late (``traffic/recorder.py``): a moment of CPU contention flags one window, which does not
make the whole experiment's measurement doubtful; a saturated driver flags most of them.
"""


def reliable(windows: Sequence[Window]) -> bool:
    """False when too many windows were measured behind the driver's schedule."""
    if not windows:
        return True
    behind = sum(1 for w in windows if w.behind_schedule)
    return behind <= UNRELIABLE_WINDOW_SHARE * len(windows)


def timeline(
    windows: Sequence[Window], start_ns: int, marks: tuple[int, int] | None, slo: Slo
) -> tuple[WindowSummary, ...]:
    """Per-window summaries labelled by phase (marks: inject time, revert end)."""
    out = []
    for w in windows:
        if marks is None or w.start_ns < marks[0]:
            phase = "baseline"
        elif w.start_ns < marks[1]:
            phase = "fault"
        else:
            phase = "recovery"
        out.append(
            WindowSummary(
                t_s=round((w.start_ns - start_ns) / 1e9, 3),
                phase=phase,
                requests=w.requests,
                successes=w.successes,
                p50_ms=w.percentile_ms(50.0),
                p99_ms=w.percentile_ms(99.0),
                slo_ok=window_holds_slo(w, slo),
            )
        )
    return tuple(out)


class Intervals(Protocol):
    """Where a result finds each fault's interval (``compound.FaultSchedule``)."""

    @property
    def compound(self) -> bool: ...

    def intervals(self) -> tuple[FaultInterval, ...]: ...


@dataclass
class ResultBuilder:
    """What every result of one experiment shares: its spec, fault, clock and SLO.

    ``fault`` is the experiment's first fault; ``schedule``, when given, has every fault's
    interval (a compound experiment is described as all of its faults).
    """

    spec: ExperimentSpec
    fault: Fault[Any]
    clock: Clock
    slo: Slo
    schedule: Intervals | None = None

    def expectation(self) -> str:
        expect = self.spec.expect
        return f"impact <= {expect.max_impact.value}" + (
            f", recovered within {expect.recovery_within_s:g} s"
            if expect.recovery_within_s is not None
            else ", recovered before the timeout"
        )

    def finish(
        self,
        status: ExperimentStatus,
        impact: ImpactLevel,
        recovery_ms: float | None,
        reason: str,
        windows: Sequence[Window],
        phases: dict[str, PhaseStats],
        *,
        findings: Sequence[str] = (),
        reliable: bool = True,
        phase_marks: tuple[int, int] | None = None,
        revert_ms: float | None = None,
        disruption_ms: float | None = None,
        error_burst_ms: float | None = None,
    ) -> FaultResult:
        if self.fault.choice is not None:  # chosen at injection time: say which
            chosen = f"target chosen at injection: {self.fault.choice}"
            reason = f"{reason} ({chosen})" if reason else chosen
        intervals = () if self.schedule is None else self.schedule.intervals()
        details = self.fault.describe()
        if self.schedule is not None and self.schedule.compound:
            details = " + ".join(i.description for i in intervals) or details
        return FaultResult(
            name=self.spec.name,
            fault_type=self.fault.reported_type,
            description=self.spec.description or details,
            status=status,
            recovered=recovery_ms is not None,
            impact=impact,
            recovery_time_ms=None if recovery_ms is None else round(recovery_ms, 1),
            revert_ms=None if revert_ms is None else round(revert_ms, 1),
            disruption_ms=disruption_ms,
            error_burst_ms=error_burst_ms,
            reason=reason,
            details=details,
            weight=self.spec.weight,
            phases=phases,
            findings=tuple(findings),
            expectation=self.expectation(),
            timeline=timeline(windows, self.clock.start_ns, phase_marks, self.slo),
            events=tuple(self.clock.events),
            measurements_reliable=reliable,
            faults=intervals,
            sweep=self.spec.sweep_of,
        )
