"""Warm-up: the run waits for steady state before the first experiment, and says how long."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from chaos_workbench.engine.runner import RunOptions, execute_suite
from chaos_workbench.engine.warmup import WarmupFailed
from chaos_workbench.experiments.schema import Suite
from chaos_workbench.model import ExperimentStatus


def _suite(url: str, marker: Path, **defaults: float) -> Suite:
    return Suite.model_validate(
        {
            "service": "warming",
            "seed": 11,
            "traffic": {"url": url, "rate_per_s": 100, "timeout_ms": 1000},
            "slo": {"success_ratio": 0.99},
            "defaults": {"baseline_s": 1.0, "fault_s": 1.0, "recovery_timeout_s": 5, **defaults},
            "experiments": [
                {
                    "name": "outage",
                    "fault": {
                        "type": "engine_test_outage",
                        "admin_url": url,
                        "marker": str(marker),
                    },
                }
            ],
        }
    )


def _journal(run_dir: Path) -> list[dict[str, object]]:
    lines = (run_dir / "journal.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.slow
async def test_the_run_waits_for_a_warming_service_and_records_how_long(
    warming_service: str, tmp_path: Path
) -> None:
    """503 for the first 2 s of the service's life: the experiment must not see them."""
    marker = tmp_path / "applied"
    record = await execute_suite(
        _suite(warming_service, marker), RunOptions(run_dir=tmp_path / "run")
    )
    (result,) = record.results
    assert result.status is not ExperimentStatus.INCONCLUSIVE, result.reason
    assert result.phases["baseline"].success_ratio == 1.0
    assert record.warmup_s is not None
    # The service was started just before the run (it has been warming since): the wait
    # is what was left of its 2 s, plus the 3-window streak (0.75 s), with scheduling slack.
    assert 0.75 <= record.warmup_s <= 2.0 + 0.75 + 1.0
    events = [e for e in _journal(tmp_path / "run") if e["event"] == "warmup"]
    assert events == [events[0]]
    assert events[0]["steady"] is True
    assert events[0]["warmup_s"] == pytest.approx(record.warmup_s, abs=0.002)


@pytest.mark.slow
async def test_a_service_that_never_gets_healthy_ends_the_run_before_anything_is_injected(
    unhealthy_service: str, tmp_path: Path
) -> None:
    marker = tmp_path / "applied"
    started = time.monotonic()
    with pytest.raises(WarmupFailed) as caught:
        await execute_suite(
            _suite(unhealthy_service, marker, warmup_timeout_s=2),
            RunOptions(run_dir=tmp_path / "run"),
        )
    elapsed = time.monotonic() - started
    assert caught.value.exit_code == 1
    message = str(caught.value)
    assert "did not reach steady state within the 2 s warm-up" in message
    assert "success 0.0% (SLO 99.0%)" in message
    assert "nothing was injected" in message
    assert not marker.exists()
    assert 2.0 <= elapsed <= 2.0 + 8.0  # the bound, plus starting and stopping the run
    events = [e for e in _journal(tmp_path / "run") if e["event"] == "warmup"]
    assert [e["steady"] for e in events] == [False]


async def test_warmup_zero_starts_the_first_experiment_at_once(
    flaky_service: str, tmp_path: Path
) -> None:
    marker = tmp_path / "applied"
    record = await execute_suite(
        _suite(flaky_service, marker, warmup_timeout_s=0, baseline_s=0.5, fault_s=0.5),
        RunOptions(run_dir=tmp_path / "run"),
    )
    assert record.warmup_s == 0.0
    assert record.results[0].status is ExperimentStatus.PASSED
