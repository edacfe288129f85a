"""Compare two runs: what changed in the grade, and in each experiment, and which is worse.

Experiments are matched by name (unique within a suite). For each one in both runs the
change is judged in this order: verdict (passed vs failed/aborted), impact level, whether it
recovered, then recovery time, where a difference within one measurement window (250 ms by
default) is noise, not a change. Experiments that did not reach a verdict in either run
(inconclusive, error) are ``incomparable`` unless both ended the same way.
"""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict

from chaos_workbench.model import ExperimentStatus, FaultResult, ImpactLevel, RunRecord

__all__ = ["Change", "ExperimentDiff", "RunComparison", "compare"]

RECOVERY_TOLERANCE_MS = 250.0  # one default measurement window: finer is not measured

_JUDGED = (ExperimentStatus.PASSED, ExperimentStatus.FAILED, ExperimentStatus.ABORTED)


class Change(enum.StrEnum):
    """How one experiment moved from run A to run B."""

    BETTER = "better"
    WORSE = "worse"
    SAME = "same"
    INCOMPARABLE = "incomparable"  # one of the runs has no verdict for it


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ExperimentDiff(_Frozen):
    """One experiment present in both runs."""

    name: str
    status_a: ExperimentStatus
    status_b: ExperimentStatus
    impact_a: ImpactLevel
    impact_b: ImpactLevel
    recovered_a: bool
    recovered_b: bool
    recovery_time_ms_a: float | None
    recovery_time_ms_b: float | None
    change: Change
    why: str  # e.g. "impact partial_outage → degraded"

    @property
    def recovery_time_delta_ms(self) -> float | None:
        """B − A, or None when either run has no recovery time."""
        if self.recovery_time_ms_a is None or self.recovery_time_ms_b is None:
            return None
        return self.recovery_time_ms_b - self.recovery_time_ms_a


class RunComparison(_Frozen):
    """Run B measured against run A."""

    run_a: str
    run_b: str
    service_a: str
    service_b: str
    grade_a: str | None
    grade_b: str | None
    score_a: float | None  # percent; None when the run had no conclusive experiment
    score_b: float | None
    experiments: tuple[ExperimentDiff, ...]
    added: tuple[str, ...]  # in B only
    removed: tuple[str, ...]  # in A only

    @property
    def score_delta(self) -> float | None:
        if self.score_a is None or self.score_b is None:
            return None
        return round(self.score_b - self.score_a, 2)

    @property
    def regressions(self) -> tuple[ExperimentDiff, ...]:
        return tuple(e for e in self.experiments if e.change is Change.WORSE)

    @property
    def improvements(self) -> tuple[ExperimentDiff, ...]:
        return tuple(e for e in self.experiments if e.change is Change.BETTER)


def _judge(a: FaultResult, b: FaultResult, tolerance_ms: float) -> tuple[Change, str]:
    if a.status not in _JUDGED or b.status not in _JUDGED:
        if a.status == b.status:
            return Change.SAME, f"{a.status.value} in both runs"
        return Change.INCOMPARABLE, f"{a.status.value} → {b.status.value}"
    if a.passed != b.passed:
        change = Change.BETTER if b.passed else Change.WORSE
        return change, f"{a.status.value} → {b.status.value}"
    if a.impact is not b.impact:
        change = Change.WORSE if b.impact.worse_than(a.impact) else Change.BETTER
        return change, f"impact {a.impact.value} → {b.impact.value}"
    if a.recovered != b.recovered:
        change = Change.BETTER if b.recovered else Change.WORSE
        return change, "recovered" if b.recovered else "no longer recovered"
    if a.recovery_time_ms is not None and b.recovery_time_ms is not None:
        delta = b.recovery_time_ms - a.recovery_time_ms
        if abs(delta) > tolerance_ms:
            change = Change.WORSE if delta > 0 else Change.BETTER
            return change, f"recovery {a.recovery_time_ms:.0f} → {b.recovery_time_ms:.0f} ms"
    return Change.SAME, "no change beyond measurement resolution"


def compare(
    a: RunRecord, b: RunRecord, *, recovery_tolerance_ms: float = RECOVERY_TOLERANCE_MS
) -> RunComparison:
    """What changed from run ``a`` to run ``b``."""
    results_a = {r.name: r for r in a.results}
    results_b = {r.name: r for r in b.results}
    diffs = []
    for name, ra in results_a.items():
        rb = results_b.get(name)
        if rb is None:
            continue
        change, why = _judge(ra, rb, recovery_tolerance_ms)
        diffs.append(
            ExperimentDiff(
                name=name,
                status_a=ra.status,
                status_b=rb.status,
                impact_a=ra.impact,
                impact_b=rb.impact,
                recovered_a=ra.recovered,
                recovered_b=rb.recovered,
                recovery_time_ms_a=ra.recovery_time_ms,
                recovery_time_ms_b=rb.recovery_time_ms,
                change=change,
                why=why,
            )
        )
    return RunComparison(
        run_a=a.run_id,
        run_b=b.run_id,
        service_a=a.service,
        service_b=b.service,
        grade_a=None if a.score is None else a.score.grade,
        grade_b=None if b.score is None else b.score.grade,
        score_a=None if a.score is None else a.score.recovery_rate,
        score_b=None if b.score is None else b.score.recovery_rate,
        experiments=tuple(diffs),
        added=tuple(name for name in results_b if name not in results_a),
        removed=tuple(name for name in results_a if name not in results_b),
    )
