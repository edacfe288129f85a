"""The design sketch's Python API, run for real: add_experiment → run_all → scorecard/report."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos_workbench.workbench import ChaosWorkbench, Experiment


@pytest.mark.slow
def test_report_has_the_design_sketch_shape(flaky_service: str, tmp_path: Path) -> None:
    wb = ChaosWorkbench(
        "flaky",
        traffic={"url": flaky_service, "rate_per_s": 80},
        slo={"success_ratio": 0.99},
        defaults={"baseline_s": 1, "fault_s": 1, "recovery_timeout_s": 5},
        run_dir=tmp_path,
        seed=3,
    )
    wb.add_experiment(
        Experiment(
            name="outage",
            fault={"type": "engine_test_outage", "admin_url": flaky_service},
        )
    )
    wb.add_experiment(
        {
            "name": "slow-recovery",
            "fault": {
                "type": "engine_test_outage",
                "admin_url": flaky_service,
                "recovery_delay_ms": 1500,
            },
            "expect": {"recovery_within_s": 0.5},
        }
    )
    results = wb.run_all()
    assert [r.name for r in results] == ["outage", "slow-recovery"]
    report = wb.report()
    assert {"service", "experiments", "recovery_rate", "grade", "results"} <= report.keys()
    assert report["service"] == "flaky"
    assert report["experiments"] == 2
    first, second = report["results"]
    assert {"fault", "description", "recovered", "impact"} <= first.keys()
    assert first["recovered"] is True
    assert first["impact"] == "full_outage"
    # Recovered, but later than the 0.5 s it had to: it fails, and the score shows it.
    assert second["recovered"] is True
    assert report["recovery_rate"] == 50.0
    assert report["grade"] == "D"
    assert wb.scorecard().passed == 1


def test_scorecard_before_running_is_a_clear_error() -> None:
    wb = ChaosWorkbench("s", traffic={"url": "http://127.0.0.1:9"})
    with pytest.raises(RuntimeError, match="call run_all"):
        wb.scorecard()
