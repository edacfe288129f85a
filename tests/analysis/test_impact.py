"""Impact levels, recovery time and verdicts on crafted window series."""

from __future__ import annotations

import pytest

from chaos_workbench.analysis.impact import classify_impact, find_recovery, judge, window_holds_slo
from chaos_workbench.analysis.spec import Expectations, ImpactThresholds, Slo
from chaos_workbench.model import ExperimentStatus, ImpactLevel
from chaos_workbench.traffic.window import Window, new_histogram

MS = 1_000_000  # nanoseconds per millisecond
SLO = Slo(success_ratio=0.99, p99_ms=300)
THRESHOLDS = ImpactThresholds()


def window(start_ms: int, requests: int, successes: int, latency_ms: float = 10.0) -> Window:
    histogram = new_histogram()
    if requests:
        histogram.record_value(int(latency_ms * 1000), requests)
    return Window(
        start_ns=start_ms * MS,
        duration_ns=250 * MS,
        requests=requests,
        successes=successes,
        histogram=histogram,
    )


def test_window_slo_checks_ratio_and_p99_and_empty_is_unknown() -> None:
    assert window_holds_slo(window(0, 100, 100), SLO) is True
    assert window_holds_slo(window(0, 100, 98), SLO) is False
    assert window_holds_slo(window(0, 100, 100, latency_ms=400), SLO) is False
    assert window_holds_slo(window(0, 0, 0), SLO) is None


@pytest.mark.parametrize(
    ("successes", "latency_ms", "expected"),
    [
        (100, 10, ImpactLevel.NONE),
        (100, 500, ImpactLevel.DEGRADED),  # all succeed, but p99 breaks the SLO
        (95, 10, ImpactLevel.DEGRADED),
        (90, 10, ImpactLevel.DEGRADED),  # 90 % is still degraded (boundary inclusive)
        (89, 10, ImpactLevel.PARTIAL_OUTAGE),
        (10, 10, ImpactLevel.PARTIAL_OUTAGE),
        (9, 10, ImpactLevel.FULL_OUTAGE),
        (0, 10, ImpactLevel.FULL_OUTAGE),
    ],
)
def test_impact_levels_follow_success_ratio_thresholds(
    successes: int, latency_ms: float, expected: ImpactLevel
) -> None:
    # Spread `successes` out of 100 over four windows of 25.
    windows = [
        window(i * 250, 25, min(25, max(0, successes - 25 * i)), latency_ms) for i in range(4)
    ]
    assert classify_impact(windows, SLO, THRESHOLDS) is expected


def test_no_answer_at_all_is_full_outage() -> None:
    assert classify_impact([window(0, 0, 0)], SLO, THRESHOLDS) is ImpactLevel.FULL_OUTAGE


def test_insignificant_change_is_not_impact() -> None:
    windows = [window(0, 100, 98)]
    assert classify_impact(windows, SLO, THRESHOLDS) is ImpactLevel.DEGRADED
    assert classify_impact(windows, SLO, THRESHOLDS, significant_change=False) is ImpactLevel.NONE


def test_thresholds_are_configurable() -> None:
    strict = ImpactThresholds(partial_outage_below=0.99, full_outage_below=0.5)
    assert classify_impact([window(0, 100, 95)], SLO, strict) is ImpactLevel.PARTIAL_OUTAGE


def test_recovery_time_is_streak_start_minus_revert_end() -> None:
    revert_end_ms = 1000
    series = [
        window(750, 25, 25),  # before the revert: ignored
        window(1000, 25, 0),
        window(1250, 25, 10),
        window(1500, 25, 25),  # streak starts here
        window(1750, 0, 0),  # empty: neither counts nor breaks
        window(2000, 25, 25),
        window(2250, 25, 25),
    ]
    assert find_recovery(series, revert_end_ms * MS, SLO, stable_windows=3) == pytest.approx(500.0)


def test_a_broken_streak_starts_again() -> None:
    series = [window(0, 25, 25), window(250, 25, 25), window(500, 25, 0), window(750, 25, 25)]
    assert find_recovery(series, 0, SLO, stable_windows=3) is None
    series.append(window(1000, 25, 25))
    series.append(window(1250, 25, 25))
    assert find_recovery(series, 0, SLO, stable_windows=3) == pytest.approx(750.0)


def test_recovery_never_negative_when_window_straddles_revert() -> None:
    series = [window(900, 25, 25), window(1150, 25, 25)]
    assert find_recovery(series, 1000 * MS, SLO, stable_windows=2) == 0.0


def test_judge_against_expectations() -> None:
    expect = Expectations(max_impact=ImpactLevel.DEGRADED, recovery_within_s=10)
    status, reason = judge(ImpactLevel.DEGRADED, 2_000.0, expect)
    assert status is ExperimentStatus.PASSED
    status, reason = judge(ImpactLevel.PARTIAL_OUTAGE, 2_000.0, expect)
    assert status is ExperimentStatus.FAILED
    assert "worse than the allowed degraded" in reason
    status, reason = judge(ImpactLevel.DEGRADED, 12_500.0, expect)
    assert status is ExperimentStatus.FAILED
    assert "12.50 s" in reason
    status, reason = judge(ImpactLevel.NONE, None, Expectations())
    assert status is ExperimentStatus.FAILED
    assert "did not recover" in reason


def test_default_expectations_reduce_to_plain_recovery() -> None:
    status, _ = judge(ImpactLevel.FULL_OUTAGE, 25_000.0, Expectations())
    assert status is ExperimentStatus.PASSED
