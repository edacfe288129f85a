"""Run records for history tests: the same suite run twice, with changes between the runs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from chaos_workbench.model import (
    ExperimentStatus,
    FaultResult,
    FaultType,
    ImpactLevel,
    PhaseStats,
    ResilienceScore,
    RunRecord,
    TimelineEvent,
    WindowSummary,
)

Status = ExperimentStatus
Impact = ImpactLevel


def result(
    name: str,
    status: ExperimentStatus = Status.PASSED,
    impact: ImpactLevel = Impact.DEGRADED,
    recovery_time_ms: float | None = 800.0,
) -> FaultResult:
    return FaultResult(
        name=name,
        fault_type=FaultType.LATENCY,
        description=f"fault of {name}",
        status=status,
        recovered=recovery_time_ms is not None,
        impact=impact,
        recovery_time_ms=recovery_time_ms,
        reason=f"{status.value} for a reason",
        phases={"fault": PhaseStats(requests=10, successes=9, p99_ms=12.5, duration_s=2.5)},
        timeline=(WindowSummary(t_s=0.0, phase="baseline", requests=5, successes=5, slo_ok=True),),
        events=(TimelineEvent(t_s=0.1, kind="inject"),),
    )


def run(
    run_id: str,
    results: tuple[FaultResult, ...],
    service: str = "orders",
    started_at: str = "2026-11-26T10:00:00+00:00",
) -> RunRecord:
    conclusive = [r for r in results if r.status is not Status.INCONCLUSIVE]
    return RunRecord(
        run_id=run_id,
        service=service,
        started_at=started_at,
        duration_s=61.5,
        seed=7,
        results=results,
        score=ResilienceScore.from_results(results) if conclusive else None,
    )


@pytest.fixture
def make_run() -> Callable[..., RunRecord]:
    return run


@pytest.fixture
def make_result() -> Callable[..., FaultResult]:
    return result
