"""A parallel run for real: copies of a real service, each with its own ports, directory,
proxies and traffic, beside a control copy; one run shared by every test here.

The suite's five experiments run with ``parallel: 3``: a latency fault on the traffic's
proxy (``slow``), the same fault on a proxy traffic does not cross (``calm``), two outages
with known recovery delays, and host-wide CPU pressure that must run alone. The outage
fault is test-only (``parallel_helpers.py``), aimed at each copy's own service through a
``${port:svc}`` placeholder in its parameters.
"""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import pytest

from chaos_workbench.engine.session import RunOutcome
from chaos_workbench.model import ExperimentStatus, FaultResult, ImpactLevel
from chaos_workbench.reports import render
from chaos_workbench.reports.terminal import scorecard_text

sys.path.insert(0, str(Path(__file__).parent))  # for parallel_helpers (importlib mode)
from parallel_helpers import copy_dirs, event_ns, identity, run_copies, write_suite

pytestmark = pytest.mark.slow

EXPERIMENTS = """
parallel: 3
experiments:
  - name: slow
    fault: {type: latency, proxy: front, latency_ms: 300}
  - name: calm
    fault: {type: latency, proxy: side, latency_ms: 300}
  - name: outage-a
    fault: {type: copy_test_outage, admin_url: "http://127.0.0.1:${port:svc}",
            recovery_delay_ms: 1000}
  - name: outage-b
    fault: {type: copy_test_outage, admin_url: "http://127.0.0.1:${port:svc}",
            recovery_delay_ms: 1500}
  - name: hog
    fault: {type: cpu_pressure, workers: 1, load_pct: 20}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunOutcome, Path]:
    base = tmp_path_factory.mktemp("parallel")
    suite = write_suite(base / "suite.yaml", EXPERIMENTS)
    outcome = run_copies(suite, base / "run", parallel=3)
    return outcome, base / "run"


def by_name(outcome: RunOutcome) -> dict[str, FaultResult]:
    return {r.name: r for r in outcome.record.results}


def test_every_experiment_ran_on_a_copy_of_its_own(run: tuple[RunOutcome, Path]) -> None:
    outcome, run_dir = run
    results = by_name(outcome)
    assert list(results) == ["slow", "calm", "outage-a", "outage-b", "hog"]  # suite order
    assert outcome.record.parallel == 3
    assert len({r.copy_name for r in results.values()}) == 5
    dirs = copy_dirs(run_dir)
    assert set(dirs) == {"control", *(r.copy_name for r in results.values())}
    # Each copy's service wrote its port and pid into its own ${copy_dir}/data.
    identities = {name: identity(path) for name, path in dirs.items()}
    assert len({port for port, _ in identities.values()}) == 6, identities
    assert len({pid for _, pid in identities.values()}) == 6, identities


def test_a_fault_in_one_copy_leaves_the_others_untouched(run: tuple[RunOutcome, Path]) -> None:
    outcome, run_dir = run
    results, dirs = by_name(outcome), copy_dirs(run_dir)
    slow, calm = results["slow"], results["calm"]
    # The two faults were held at the same time (each copy's journal, one monotonic clock).
    slow_dir, calm_dir = dirs[slow.copy_name or ""], dirs[calm.copy_name or ""]
    overlap_ns = min(event_ns(slow_dir, "reverted"), event_ns(calm_dir, "reverted")) - max(
        event_ns(slow_dir, "inject"), event_ns(calm_dir, "inject")
    )
    assert overlap_ns > 1e9, overlap_ns
    # 300 ms on the path of slow's traffic: every request of its fault phase took it.
    assert slow.impact >= ImpactLevel.DEGRADED
    assert (slow.phases["fault"].p50_ms or 0) >= 300
    # calm's copy and the control, measured over the same moments, saw none of it: had
    # the 300 ms leaked, their median (calm) and p99 (control) would be 300 ms or more.
    # (Not "impact none": on a shared 2-core machine a stalled window can break the SLO.)
    assert (calm.phases["fault"].p50_ms or 1e9) < 100, calm.phases["fault"]
    assert slow.control is not None
    assert slow.control.worse_than_control is True
    assert (slow.control.control_p99_ms or 1e9) < 300, slow.control


@pytest.mark.parametrize(("name", "delay_ms"), [("outage-a", 1000.0), ("outage-b", 1500.0)])
def test_recovery_time_in_a_copy_is_the_known_delay(
    run: tuple[RunOutcome, Path], name: str, delay_ms: float
) -> None:
    """Within ±50 ms, the tolerance of the sequential test (test_lifecycle.py): at 50
    requests/s the first good request is at most 20 ms after the service recovered."""
    result = by_name(run[0])[name]
    assert result.status is ExperimentStatus.PASSED, result.reason
    assert result.recovery_time_ms is not None
    assert abs(result.recovery_time_ms - delay_ms) <= 50, result.recovery_time_ms


def test_a_host_wide_fault_runs_alone(run: tuple[RunOutcome, Path]) -> None:
    outcome, run_dir = run
    results, dirs = by_name(outcome), copy_dirs(run_dir)
    hog = results["hog"]
    assert (hog.scope, hog.ran_alone) == ("host", True)
    assert all(r.scope == "copy" and r.ran_alone is False for n, r in results.items() if n != "hog")
    alone = dirs[hog.copy_name or ""]
    start, stop = event_ns(alone, "copy_start"), event_ns(alone, "copy_stop")
    for name, result in results.items():
        if name == "hog":
            continue
        other = dirs[result.copy_name or ""]
        # No other experiment copy existed while the host-wide one did (start to stop).
        assert event_ns(other, "copy_stop") < start or event_ns(other, "copy_start") > stop
    assert hog.control is not None
    assert hog.control.trusted == "baseline"
    assert "ran alone" in hog.control.explanation


def test_every_report_format_shows_the_control(run: tuple[RunOutcome, Path]) -> None:
    record = run[0].record
    for fmt in ("markdown", "junit", "html"):
        text = render(record, fmt)
        assert "control" in text.lower(), fmt
        assert "copy-" in text, fmt
    assert "Parallel: 3 experiment copies" in scorecard_text(record, width=200)
    assert '"control": {' in render(record, "json")


def test_nothing_is_left_running_and_no_lease_is_left(run: tuple[RunOutcome, Path]) -> None:
    _, run_dir = run
    for path in copy_dirs(run_dir).values():
        _, pid = identity(path)
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"
        assert not list((path / "leases").glob("*")), path
