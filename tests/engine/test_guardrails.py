"""Guardrails and operator aborts: the fault is reverted at once and the experiment aborted."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from chaos_workbench.engine.guardrails import STOP_FILE, breached
from chaos_workbench.engine.runner import RunOptions, execute_suite
from chaos_workbench.experiments.schema import GuardrailSpec, Suite
from chaos_workbench.model import ExperimentStatus
from chaos_workbench.traffic.window import Window, new_histogram

MS = 1_000_000


def window(start_ms: int, requests: int, successes: int, latency_ms: float = 5) -> Window:
    histogram = new_histogram()
    if requests:
        histogram.record_value(int(latency_ms * 1000), requests)
    return Window(start_ms * MS, 250 * MS, requests, successes, histogram=histogram)


def test_a_guardrail_trips_only_when_every_window_of_its_span_breaks_it() -> None:
    guard = GuardrailSpec(success_ratio_below=0.5, for_s=1.0)
    bad = [window(t, 10, 1) for t in range(0, 1250, 250)]
    assert breached(guard, bad, now_ns=1250 * MS)
    mixed = [*bad[:-1], window(1000, 10, 10)]
    assert not breached(guard, mixed, now_ns=1250 * MS)
    assert not breached(guard, bad[-2:], now_ns=1250 * MS), "half a second is not one second"


def test_a_latency_guardrail() -> None:
    guard = GuardrailSpec(p99_ms_above=200, for_s=0.5)
    slow = [window(t, 10, 10, latency_ms=450) for t in range(0, 750, 250)]
    assert breached(guard, slow, now_ns=750 * MS)
    assert not breached(guard, [window(t, 10, 10) for t in range(0, 750, 250)], now_ns=750 * MS)


def test_a_guardrail_needs_a_condition() -> None:
    with pytest.raises(ValueError, match="give a condition"):
        GuardrailSpec(for_s=1)


def outage_suite(url: str, marker: Path, **extra: object) -> Suite:
    return Suite.model_validate(
        {
            "service": "flaky",
            "traffic": {"url": url, "rate_per_s": 100, "timeout_ms": 1000},
            "defaults": {"baseline_s": 1, "fault_s": 60, "recovery_timeout_s": 5},
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
            **extra,
        }
    )


@pytest.mark.slow
async def test_a_guardrail_aborts_and_reverts_at_once(flaky_service: str, tmp_path: Path) -> None:
    marker = tmp_path / "applied"
    suite = outage_suite(
        flaky_service,
        marker,
        guardrails=[{"name": "too-many-errors", "success_ratio_below": 0.5, "for_s": 0.5}],
    )
    started = time.monotonic()
    record = await execute_suite(suite, RunOptions(run_dir=tmp_path / "run"))
    (result,) = record.results
    assert result.status is ExperimentStatus.ABORTED
    assert "too-many-errors" in result.reason
    assert not marker.exists()
    # The fault was to be held 60 s: the guardrail cut it to about its 0.5 s span plus
    # the window delay (request timeout); recovery then took its own short time.
    assert time.monotonic() - started < 20
    aborted_at = next(e.t_s for e in result.events if e.kind == "aborted")
    injected_at = next(e.t_s for e in result.events if e.kind == "injected")
    assert aborted_at - injected_at < 4.0


@pytest.mark.slow
async def test_the_stop_file_aborts_the_running_experiment(
    flaky_service: str, tmp_path: Path
) -> None:
    marker = tmp_path / "applied"
    run_dir = tmp_path / "run"
    task = asyncio.create_task(
        execute_suite(outage_suite(flaky_service, marker), RunOptions(run_dir=run_dir))
    )
    async with asyncio.timeout(30):
        while not marker.exists():
            await asyncio.sleep(0.05)
    (run_dir / STOP_FILE).touch()
    async with asyncio.timeout(30):
        record = await task
    (result,) = record.results
    assert result.status is ExperimentStatus.ABORTED
    assert "stop file" in result.reason
    assert not marker.exists()
    assert not (run_dir / STOP_FILE).exists(), "the stop file is consumed"


@pytest.mark.slow
async def test_a_guardrail_with_its_own_probe(flaky_service: str, tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on: every probe is refused
        sock.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{sock.getsockname()[1]}"
    marker = tmp_path / "applied"
    suite = outage_suite(
        flaky_service,
        marker,
        guardrails=[
            {
                "name": "primary-db",
                "probe": {"kind": "tcp", "address": dead, "rate_per_s": 20},
                "success_ratio_below": 0.5,
                "for_s": 0.5,
            }
        ],
    )
    record = await execute_suite(suite, RunOptions(run_dir=tmp_path / "run"))
    (result,) = record.results
    assert result.status is ExperimentStatus.ABORTED
    assert "tcp probe" in result.reason
    assert "primary-db" in result.reason
    assert not marker.exists()
