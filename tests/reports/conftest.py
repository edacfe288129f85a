"""A crafted run record with one experiment of every outcome, as the engine would write it."""

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


def windows(pattern: str, step_s: float = 0.25) -> tuple[WindowSummary, ...]:
    """One window per character: phase b/f/r (upper case: SLO broken), '.' an empty window."""
    out = []
    phase = "baseline"
    for i, char in enumerate(pattern):
        if char == ".":
            out.append(WindowSummary(t_s=i * step_s, phase=phase, requests=0, successes=0))
            continue
        phase = {"b": "baseline", "f": "fault", "r": "recovery"}[char.lower()]
        broken = char.isupper()
        out.append(
            WindowSummary(
                t_s=i * step_s,
                phase=phase,
                requests=12,
                successes=6 if broken else 12,
                p50_ms=40.0 if broken else 4.0,
                p99_ms=520.0 if broken else 9.5,
                slo_ok=not broken,
            )
        )
    return tuple(out)


def phases() -> dict[str, PhaseStats]:
    return {
        "baseline": PhaseStats(
            requests=240, successes=240, p50_ms=4, p95_ms=8, p99_ms=9.5, duration_s=5
        ),
        "fault": PhaseStats(
            requests=480,
            successes=300,
            errors_by_kind={"timeout": 150, "http_503": 30},
            p50_ms=40,
            p95_ms=480,
            p99_ms=520,
            duration_s=10,
        ),
        "recovery": PhaseStats(
            requests=120, successes=120, p50_ms=4, p95_ms=8, p99_ms=9.9, duration_s=2.5
        ),
    }


def make_results() -> tuple[FaultResult, ...]:
    events = (
        TimelineEvent(t_s=0.0, kind="baseline_start"),
        TimelineEvent(t_s=2.0, kind="inject", message="latency 500 ms on db"),
        TimelineEvent(t_s=2.01, kind="injected"),
        TimelineEvent(t_s=4.0, kind="revert"),
        TimelineEvent(t_s=4.02, kind="reverted"),
        TimelineEvent(t_s=4.75, kind="recovered", message="3 windows within the SLO"),
    )
    return (
        FaultResult(
            name="db-latency",
            fault_type=FaultType.LATENCY,
            description="latency 500 ms on db",
            status=ExperimentStatus.PASSED,
            recovered=True,
            impact=ImpactLevel.DEGRADED,
            recovery_time_ms=730.0,
            revert_ms=20.0,
            disruption_ms=2740.0,
            reason="recovered in 730 ms: within expectations",
            expectation="impact <= degraded, recovered within 10 s",
            phases=phases(),
            findings=("p99 rose from 9.5 ms to 520 ms (significant, p < 0.001)",),
            timeline=windows("bbbbbbbbFFFF.FFFrrrrrrr"),
            events=events,
        ),
        FaultResult(
            name="payments-errors",
            fault_type=FaultType.ERROR,
            description="http_error 80 % 503 on payments",
            status=ExperimentStatus.FAILED,
            recovered=False,
            impact=ImpactLevel.PARTIAL_OUTAGE,
            reason="impact partial_outage is worse than degraded | and not recovered within 30 s",
            expectation="impact <= degraded",
            weight=2.0,
            phases=phases(),
            timeline=windows("bbbbFFFFRRRR"),
            events=events[:5],
        ),
        FaultResult(
            name="<kill> & db",
            fault_type=FaultType.PROCESS,
            description="process_kill SIGKILL on db",
            status=ExperimentStatus.INCONCLUSIVE,
            recovered=False,
            impact=ImpactLevel.NONE,
            reason="steady state did not hold: success ratio 0.80 < 0.99 during the baseline",
        ),
        FaultResult(
            name="memory",
            fault_type=FaultType.RESOURCE_EXHAUSTION,
            description="memory_pressure 70 % on order-service",
            status=ExperimentStatus.ERROR,
            recovered=False,
            impact=ImpactLevel.NONE,
            reason="cannot apply: no memory cgroup for pid 4242",
            details="FaultError: cgroup v2 memory controller not delegated",
        ),
        FaultResult(
            name="db-down",
            fault_type=FaultType.DEPENDENCY_DOWN,
            description="down on db",
            status=ExperimentStatus.ABORTED,
            recovered=True,
            impact=ImpactLevel.FULL_OUTAGE,
            recovery_time_ms=12_400.0,
            revert_ms=3_150.0,
            disruption_ms=16_900.0,
            reason="guardrail 'success ratio below 0.5 for 1 s' tripped; the fault was reverted",
            measurements_reliable=False,
        ),
    )


def make_record(run_id: str = "20261126-181500-ab12", **changes: object) -> RunRecord:
    results = make_results()
    values: dict[str, object] = {
        "run_id": run_id,
        "service": "order-service",
        "suite_path": "examples/suite.yaml",
        "started_at": "2026-11-26T18:15:00Z",
        "finished_at": "2026-11-26T18:17:10Z",
        "duration_s": 130.4,
        "seed": 42,
        "results": results,
        "score": ResilienceScore.from_results(results),
        "notes": ("proxy api on 127.0.0.1:8474",),
        "warmup_s": 1.24,
    }
    values.update(changes)
    return RunRecord.model_validate(values)


@pytest.fixture
def record() -> RunRecord:
    return make_record()


@pytest.fixture
def record_factory() -> Callable[..., RunRecord]:
    """``make_record`` for tests that change fields (``run_id``, ``results``, ``score``)."""
    return make_record
