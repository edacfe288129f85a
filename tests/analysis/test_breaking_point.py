"""The breaking point of a sweep, from its values' verdicts (pure functions, no I/O)."""

from __future__ import annotations

import pytest

from chaos_workbench.analysis.breaking_point import breaking_point, breaking_points, outcome_of
from chaos_workbench.model import (
    ExperimentStatus,
    FaultResult,
    FaultType,
    ImpactLevel,
    PhaseStats,
    SweepOutcome,
    SweepPoint,
    SweepValue,
)

P = ExperimentStatus.PASSED
F = ExperimentStatus.FAILED
I = ExperimentStatus.INCONCLUSIVE  # noqa: E741 (a verdict's initial, like P and F)
A = ExperimentStatus.ABORTED
E = ExperimentStatus.ERROR
_IMPACT = {P: ImpactLevel.NONE, F: ImpactLevel.PARTIAL_OUTAGE, A: ImpactLevel.FULL_OUTAGE}


def outcomes(pairs: list[tuple[SweepValue, ExperimentStatus]]) -> list[SweepOutcome]:
    return [
        outcome_of(
            value,
            FaultResult(
                name=f"db[latency_ms={value}]",
                fault_type=FaultType.LATENCY,
                description="",
                status=status,
                recovered=status is P,
                impact=_IMPACT.get(status, ImpactLevel.NONE),
            ),
        )
        for value, status in pairs
    ]


def test_the_largest_pass_and_the_smallest_fail() -> None:
    point = breaking_point(
        "order-service",
        "latency_ms",
        outcomes([(50, P), (100, P), (200, P), (400, F), (800, F), (1600, F)]),
    )
    assert (point.tolerated, point.breaks_at, point.reached, point.monotone) == (
        200,
        400,
        True,
        True,
    )
    assert point.summary == ("order-service tolerates 200 ms; at 400 ms it is partial outage.")


def test_values_are_judged_in_ascending_order_whatever_the_order_written() -> None:
    point = breaking_point("s", "latency_ms", outcomes([(800, F), (50, P), (400, F), (200, P)]))
    assert [p.value for p in point.points] == [50, 200, 400, 800]
    assert (point.tolerated, point.breaks_at) == (200, 400)


def test_not_reached_when_every_value_passes() -> None:
    point = breaking_point("s", "probability", outcomes([(0.01, P), (0.05, P), (0.1, P)]))
    assert (point.tolerated, point.breaks_at, point.reached) == (0.1, None, False)
    assert "not reached" in point.summary
    assert "up to probability=0.1" in point.summary  # no unit: the value with its name


def test_failing_at_the_smallest_value_has_nothing_tolerated() -> None:
    point = breaking_point("s", "latency_ms", outcomes([(50, F), (100, F)]))
    assert (point.tolerated, point.breaks_at, point.reached) == (None, 50, True)
    assert "fails already at the smallest value tried: at 50 ms" in point.summary


def test_a_pass_above_a_fail_is_said_plainly() -> None:
    point = breaking_point("s", "latency_ms", outcomes([(100, P), (200, F), (400, P), (800, F)]))
    assert (point.tolerated, point.breaks_at, point.monotone) == (100, 200, False)
    assert "Not monotone: 400 passed above a value that failed" in point.summary


def test_values_without_a_verdict_are_left_out_and_named() -> None:
    point = breaking_point(
        "s", "latency_ms", outcomes([(100, P), (200, I), (400, E), (800, F), (1600, A)])
    )
    # 200 and 400 gave no verdict: the boundary is between the judged neighbours.
    assert (point.tolerated, point.breaks_at, point.monotone) == (100, 800, True)
    assert "No verdict for 200, 400." in point.summary
    assert [p.passed for p in point.points] == [True, None, None, False, False]


def test_no_verdict_at_all_is_no_breaking_point() -> None:
    point = breaking_point("s", "latency_ms", outcomes([(100, I), (200, E)]))
    assert (point.tolerated, point.breaks_at, point.reached) == (None, None, False)
    assert "no value gave a verdict" in point.summary


def test_text_values_keep_the_order_written() -> None:
    point = breaking_point("s", "stream", outcomes([("upstream", P), ("both", F)]))
    assert [p.value for p in point.points] == ["upstream", "both"]
    assert (point.tolerated, point.breaks_at) == ("upstream", "both")


@pytest.mark.parametrize(
    ("parameter", "unit"), [("latency_ms", "ms"), ("delay_s", "s"), ("size_bytes", "bytes")]
)
def test_the_unit_comes_from_the_parameters_name(parameter: str, unit: str) -> None:
    point = breaking_point("s", parameter, outcomes([(1, P), (2, F)]))
    assert f"tolerates 1 {unit}; at 2 {unit}" in point.summary


def test_a_runs_results_group_by_sweep_and_ignore_plain_experiments() -> None:
    def result(name: str, sweep: str | None, value: int, status: ExperimentStatus) -> FaultResult:
        return FaultResult(
            name=name,
            fault_type=FaultType.LATENCY,
            description="",
            status=status,
            recovered=True,
            impact=_IMPACT[status],
            phases={
                "fault": PhaseStats(
                    requests=10, successes=9, p99_ms=float(value) + 3, duration_s=1.5
                )
            },
            sweep=None
            if sweep is None
            else SweepPoint(sweep=sweep, parameter="latency_ms", value=value, index=0),
        )

    points = breaking_points(
        [
            result("a[latency_ms=400]", "a", 400, F),
            result("plain", None, 0, P),
            result("b[latency_ms=10]", "b", 10, P),
            result("a[latency_ms=100]", "a", 100, P),
        ]
    )
    assert [(p.sweep, p.tolerated, p.breaks_at) for p in points] == [
        ("a", 100, 400),
        ("b", 10, None),
    ]
    assert points[0].points[1].fault_p99_ms == 403.0
    assert points[0].points[1].fault_success_ratio == 0.9
