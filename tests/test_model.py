"""The design sketch's public vocabulary: grades, impact order, scoring."""

from __future__ import annotations

import pytest

from chaos_workbench import (
    ExperimentStatus,
    FaultResult,
    FaultType,
    ImpactLevel,
    ResilienceScore,
    grade_for,
)


@pytest.mark.parametrize(
    ("score", "grade"),
    [
        (100, "A"),
        (95, "A"),
        (94.99, "B"),
        (80, "B"),
        (79.9, "C"),
        (60, "C"),
        (59, "D"),
        (40, "D"),
        (39.99, "F"),
        (0, "F"),
    ],
)
def test_grade_thresholds_are_95_80_60_40(score: float, grade: str) -> None:
    assert grade_for(score) == grade


def test_grade_rejects_out_of_range() -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        grade_for(101)


def test_impact_levels_are_ordered() -> None:
    assert ImpactLevel.FULL_OUTAGE.worse_than(ImpactLevel.PARTIAL_OUTAGE)
    assert ImpactLevel.PARTIAL_OUTAGE.worse_than(ImpactLevel.DEGRADED)
    assert ImpactLevel.DEGRADED.worse_than(ImpactLevel.NONE)
    assert not ImpactLevel.NONE.worse_than(ImpactLevel.NONE)


def _result(status: ExperimentStatus, impact: ImpactLevel, weight: float = 1.0) -> FaultResult:
    return FaultResult(
        name=f"{status}-{impact}",
        fault_type=FaultType.LATENCY,
        description="d",
        status=status,
        recovered=status is ExperimentStatus.PASSED,
        impact=impact,
        weight=weight,
    )


def test_score_is_weighted_share_of_passed_and_ignores_inconclusive() -> None:
    results = [
        _result(ExperimentStatus.PASSED, ImpactLevel.DEGRADED, weight=3),
        _result(ExperimentStatus.FAILED, ImpactLevel.FULL_OUTAGE, weight=1),
        _result(ExperimentStatus.INCONCLUSIVE, ImpactLevel.NONE),
    ]
    score = ResilienceScore.from_results(results)
    assert score.total == 2
    assert score.inconclusive == 1
    assert score.recovery_rate == 75.0
    assert score.grade == "C"
    assert score.degraded == 1
    assert score.outages == 1


def test_grading_nothing_is_an_error_not_an_f() -> None:
    with pytest.raises(ValueError, match="no conclusive experiments"):
        ResilienceScore.from_results([])


def test_a_run_record_survives_its_own_json() -> None:
    from chaos_workbench import PhaseStats, RunRecord

    result = _result(ExperimentStatus.PASSED, ImpactLevel.DEGRADED).model_copy(
        update={"phases": {"fault": PhaseStats(requests=10, successes=9, duration_s=1.0)}}
    )
    record = RunRecord(
        run_id="r",
        service="s",
        started_at="2026-01-01T00:00:00+00:00",
        seed=1,
        results=(result,),
        score=ResilienceScore.from_results([result]),
    )
    again = RunRecord.model_validate_json(record.model_dump_json())
    assert again == record
    assert again.score is not None
    assert again.score.grade == "A"
    assert again.results[0].phases["fault"].success_ratio == 0.9


def test_impact_levels_compare_by_severity_not_as_text() -> None:
    """`assert result.impact <= ImpactLevel.DEGRADED` must mean what it says ("none" sorts
    after "degraded" as text)."""
    ordered = [
        ImpactLevel.NONE,
        ImpactLevel.DEGRADED,
        ImpactLevel.PARTIAL_OUTAGE,
        ImpactLevel.FULL_OUTAGE,
    ]
    assert sorted(reversed(ordered)) == ordered
    assert ImpactLevel.NONE <= ImpactLevel.DEGRADED
    assert ImpactLevel.NONE < ImpactLevel.DEGRADED
    assert not ImpactLevel.FULL_OUTAGE <= ImpactLevel.DEGRADED
    assert ImpactLevel.PARTIAL_OUTAGE > ImpactLevel.DEGRADED
    assert ImpactLevel.DEGRADED >= ImpactLevel.DEGRADED
    assert max(ordered[::-1]) is ImpactLevel.FULL_OUTAGE
    assert ImpactLevel.NONE == "none"  # still the string it is
