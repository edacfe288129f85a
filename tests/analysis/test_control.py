"""The concurrent control group: fault phase vs the control over the same interval.

Pure functions on windows built from known latencies and failures (no I/O to run); the
end-to-end behaviour with real copies is in ``tests/engine/test_parallel*.py``.
"""

from __future__ import annotations

import random

import pytest

from chaos_workbench.analysis.control import compare_with_control
from chaos_workbench.analysis.spec import Slo
from chaos_workbench.model import ControlComparison
from chaos_workbench.traffic.window import Window, new_histogram

SLO = Slo(success_ratio=0.99, p99_ms=300)


def windows(latencies_ms: list[float], failures: int = 0, per_window: int = 50) -> list[Window]:
    out = []
    for start in range(0, len(latencies_ms), per_window):
        chunk = latencies_ms[start : start + per_window]
        histogram = new_histogram()
        for value in chunk:
            histogram.record_value(int(value * 1000))
        failed = min(failures, len(chunk))
        failures -= failed
        out.append(
            Window(
                start_ns=start * 5_000_000,
                duration_ns=250_000_000,
                requests=len(chunk),
                successes=len(chunk) - failed,
                histogram=histogram,
            )
        )
    return out


def jittered(seed: int, n: int, center_ms: float) -> list[float]:
    rng = random.Random(seed)
    return [max(0.1, rng.gauss(center_ms, center_ms * 0.1)) for _ in range(n)]


def compare(
    fault: list[Window],
    control_fault: list[Window],
    control_before: list[Window],
    worse_than_baseline: bool | None,
) -> ControlComparison:
    return compare_with_control(
        fault=fault,
        control_fault=control_fault,
        control_before=control_before,
        worse_than_baseline=worse_than_baseline,
        slo=SLO,
        rng=random.Random(7),
    )


def test_a_fault_that_hurts_only_its_copy_is_blamed_on_the_fault() -> None:
    healthy = windows(jittered(1, 400, 10.0))
    result = compare(
        fault=windows(jittered(2, 400, 60.0), failures=40),
        control_fault=windows(jittered(3, 400, 10.0)),
        control_before=healthy,
        worse_than_baseline=True,
    )
    assert result.worse_than_control is True
    assert result.control_degraded is False
    assert result.interference is False
    assert result.trusted == "agree"
    assert result.control_requests == 400
    assert result.experiment_requests == 400
    assert result.interval_s == pytest.approx(8 * 0.25)
    assert any(f.startswith("vs control: p50 +") for f in result.findings)


def test_a_slowdown_every_copy_feels_is_interference_not_the_fault() -> None:
    # A busy machine: the control's median goes from 10 to 40 ms and it breaks the SLO's
    # error ratio, exactly as the experiment copy does. The baseline alone would blame the
    # fault; the control shows the same harm without any fault.
    result = compare(
        fault=windows(jittered(4, 400, 40.0), failures=20),
        control_fault=windows(jittered(5, 400, 40.0), failures=20),
        control_before=windows(jittered(6, 400, 10.0)),
        worse_than_baseline=True,
    )
    assert result.control_degraded is True
    assert result.interference is True
    assert result.worse_than_control is False
    assert result.trusted == "control"
    assert result.explanation.startswith("interference:")


def test_a_small_significant_drift_of_the_control_is_not_interference() -> None:
    # 10 → 11 ms over thousands of requests is significant but immaterial (< 50 %).
    result = compare(
        fault=windows(jittered(7, 2000, 80.0)),
        control_fault=windows(jittered(8, 2000, 11.0)),
        control_before=windows(jittered(9, 2000, 10.0)),
        worse_than_baseline=True,
    )
    assert result.control_degraded is False
    assert result.interference is False
    assert any(
        f.startswith("control vs its own baseline: p50 +") and "significant" in f
        for f in result.findings
    )


def test_drift_since_the_baseline_the_control_shares_is_not_blamed_on_the_fault() -> None:
    # Both copies went from 10 to 13 ms (a warm-up, not harm beyond the material bound):
    # before/after says worse; the control, over the same interval, says no worse. The
    # control is trusted, and the explanation says why.
    result = compare(
        fault=windows(jittered(10, 600, 13.0)),
        control_fault=windows(jittered(11, 600, 13.0)),
        control_before=windows(jittered(12, 600, 10.0)),
        worse_than_baseline=True,
    )
    assert result.interference is False
    assert result.worse_than_control is False
    assert result.trusted == "control"
    assert "same interval" in result.explanation


def test_a_control_with_too_few_requests_leaves_the_verdict_to_the_baseline() -> None:
    result = compare(
        fault=windows(jittered(13, 400, 60.0)),
        control_fault=windows(jittered(14, 5, 10.0)),
        control_before=windows(jittered(15, 5, 10.0)),
        worse_than_baseline=True,
    )
    assert result.worse_than_control is None
    assert result.trusted == "baseline"
    assert "too few" in result.explanation


def test_the_comparison_is_frozen_and_round_trips_through_json() -> None:
    result = compare(
        fault=windows(jittered(16, 200, 10.0)),
        control_fault=windows(jittered(17, 200, 10.0)),
        control_before=windows(jittered(18, 200, 10.0)),
        worse_than_baseline=False,
    )
    with pytest.raises(Exception, match="frozen"):
        result.interference = True  # type: ignore[misc]
    assert ControlComparison.model_validate_json(result.model_dump_json()) == result
