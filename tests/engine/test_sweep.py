"""A sweep finds the known breaking point of a real service, in every report format.

A real HTTP server (``flaky_service.py``) sits behind the run's own fault proxy; the suite's
SLO asks for p99 ≤ 380 ms and each experiment for no impact at all. A latency toxic adds
its delay once per response, so 100 and 200 ms of extra latency keep p99 under 380 ms
(the server answers in about a millisecond on loopback: 180 ms of margin for a busy
machine) and 400 ms cannot: a toxic never makes a response faster, so the failing side is
certain. The breaking point is 200 / 400. One real ``cwb run`` (module-scoped) serves every assertion.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from chaos_workbench.reports.json_report import read_json

CWB = [sys.executable, "-m", "chaos_workbench.cli"]
SERVICE = Path(__file__).with_name("flaky_service.py")
VALUES = [400, 100, 200]  # written out of order: the breaking point sorts them


@dataclass
class SweepRun:
    run_dir: Path
    output: str
    returncode: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def sweep_run(tmp_path_factory: pytest.TempPathFactory) -> SweepRun:
    tmp = tmp_path_factory.mktemp("sweep")
    service = subprocess.Popen([sys.executable, str(SERVICE)], stdout=subprocess.PIPE, text=True)
    assert service.stdout is not None
    port = service.stdout.readline().strip()
    assert port.isdigit(), f"the service did not start: {port!r}"
    listen = f"127.0.0.1:{_free_port()}"
    suite = {
        "service": "order-service",
        "traffic": {"url": f"http://{listen}/", "rate_per_s": 40, "timeout_ms": 3000},
        "slo": {"success_ratio": 0.99, "p99_ms": 380},
        "proxies": [{"name": "db", "listen": listen, "upstream": f"127.0.0.1:{port}"}],
        "defaults": {
            "baseline_s": 1,
            "fault_s": 1.5,
            "recovery_timeout_s": 5,
            "warmup_timeout_s": 10,
        },
        "experiments": [
            {
                "name": "db-latency",
                "fault": {"type": "latency", "proxy": "db", "latency_ms": 1},
                "sweep": {"latency_ms": VALUES},
                "expect": {"max_impact": "none"},
            }
        ],
    }
    path = tmp / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    run_dir = tmp / "run"
    reports = [f"--report={tmp / name}" for name in ("r.html", "r.xml", "r.md")]
    try:
        result = subprocess.run(
            [*CWB, "run", str(path), "--run-dir", str(run_dir), "--no-history", *reports],
            capture_output=True,
            text=True,
            timeout=100,
            env={**os.environ, "COLUMNS": "200"},
        )
    finally:
        service.terminate()
        service.wait(timeout=10)
        service.stdout.close()
    return SweepRun(run_dir, result.stdout + result.stderr, result.returncode)


@pytest.mark.slow
def test_each_value_runs_as_its_own_experiment(sweep_run: SweepRun) -> None:
    record = read_json(sweep_run.run_dir / "report.json")
    names = [r.name for r in record.results]
    assert names == [f"db-latency[latency_ms={v}]" for v in VALUES], sweep_run.output
    for result, value in zip(record.results, VALUES, strict=True):
        assert result.sweep is not None
        assert (result.sweep.sweep, result.sweep.parameter, result.sweep.value) == (
            "db-latency",
            "latency_ms",
            value,
        )
        assert f"latency {value} ms on db" in result.details
        # The fault really acted: p99 under fault is at least the added delay (a toxic
        # cannot speed a response up), and within the 3 s request timeout.
        fault = result.phases["fault"]
        assert fault.p99_ms is not None
        assert value <= fault.p99_ms < 3000, (value, fault)


@pytest.mark.slow
def test_the_breaking_point_is_200_tolerated_400_broken(sweep_run: SweepRun) -> None:
    record = read_json(sweep_run.run_dir / "report.json")
    verdicts = {r.sweep.value: r.status.value for r in record.results if r.sweep is not None}
    assert verdicts == {100: "passed", 200: "passed", 400: "failed"}, sweep_run.output
    (point,) = record.breaking_points
    assert (point.sweep, point.parameter) == ("db-latency", "latency_ms")
    assert (point.tolerated, point.breaks_at, point.reached, point.monotone) == (
        200,
        400,
        True,
        True,
    )
    assert [p.value for p in point.points] == [100, 200, 400]
    assert "tolerates 200 ms; at 400 ms it is degraded" in point.summary


@pytest.mark.slow
def test_every_report_format_states_the_breaking_point(sweep_run: SweepRun) -> None:
    tmp = sweep_run.run_dir.parent
    assert "Breaking point of db-latency (latency_ms): 200 / 400" in sweep_run.output
    raw = json.loads((sweep_run.run_dir / "report.json").read_text())
    assert raw["breaking_points"][0]["tolerated"] == 200
    assert raw["breaking_points"][0]["breaks_at"] == 400

    html = (tmp / "r.html").read_text()
    assert "Breaking point: db-latency" in html
    assert html.count('class="sweep-value"') == 3  # the chart: a dot per value
    assert html.count('class="breaking-point-marker"') == 1  # ... and the breaking point marked

    junit = ET.parse(tmp / "r.xml").getroot()
    suite = junit.find("testsuite")
    assert suite is not None
    cases = [c.get("name") for c in suite.iter("testcase")]
    assert cases == [f"db-latency[latency_ms={v}]" for v in VALUES]
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["breaking_point.db-latency"] == "latency_ms: 200 / 400"
    out = suite.find("system-out")
    assert out is not None
    assert out.text is not None
    assert "tolerates 200 ms; at 400 ms" in out.text

    markdown = (tmp / "r.md").read_text()
    assert "| db-latency | latency_ms | 200 / 400 |" in markdown


def test_only_with_a_sweeps_name_selects_every_value() -> None:
    from chaos_workbench.engine.errors import RunAborted
    from chaos_workbench.engine.runner import _selected
    from chaos_workbench.experiments.loader import parse_suite

    suite = parse_suite(
        "service: s\n"
        "traffic: {url: 'http://127.0.0.1:1/'}\n"
        "proxies: [{name: db, listen: '127.0.0.1:2', upstream: '127.0.0.1:3'}]\n"
        "experiments:\n"
        "  - {name: slow-db, fault: {type: latency, proxy: db, latency_ms: 1},"
        " sweep: {latency_ms: [100, 200]}}\n"
        "  - {name: down, fault: {type: down, proxy: db}}\n"
    )
    assert [e.name for e in _selected(suite, ["slow-db"])] == [
        "slow-db[latency_ms=100]",
        "slow-db[latency_ms=200]",
    ]
    assert [e.name for e in _selected(suite, ["slow-db[latency_ms=200]", "down"])] == [
        "slow-db[latency_ms=200]",
        "down",
    ]
    with pytest.raises(RunAborted, match="no experiment named slow"):
        _selected(suite, ["slow"])
