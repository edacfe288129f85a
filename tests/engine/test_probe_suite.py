"""A suite measured by a protocol probe instead of HTTP traffic, through the real fault proxy."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from chaos_workbench.engine.runner import RunOptions, execute_suite
from chaos_workbench.experiments.errors import SuiteError
from chaos_workbench.experiments.loader import parse_suite
from chaos_workbench.experiments.schema import Suite
from chaos_workbench.model import ExperimentStatus, ImpactLevel


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
async def test_a_tcp_probe_sees_a_dependency_go_down_and_come_back(
    flaky_service: str, tmp_path: Path
) -> None:
    upstream = flaky_service.removeprefix("http://")
    listen = f"127.0.0.1:{free_port()}"
    suite = Suite.model_validate(
        {
            "service": "tcp-dependency",
            "probe": {"kind": "tcp", "address": listen, "rate_per_s": 40},
            "proxies": [{"name": "dep", "listen": listen, "upstream": upstream}],
            "defaults": {"baseline_s": 1, "fault_s": 1.5, "recovery_timeout_s": 5},
            "experiments": [{"name": "down", "fault": {"type": "down", "proxy": "dep"}}],
        }
    )
    record = await execute_suite(suite, RunOptions(run_dir=tmp_path))
    (result,) = record.results
    assert result.status is ExperimentStatus.PASSED, result.reason
    assert result.impact is ImpactLevel.FULL_OUTAGE  # every connect refused while down
    assert result.phases["fault"].errors_by_kind.get("connect_refused", 0) > 0
    assert result.recovery_time_ms is not None
    assert result.recovery_time_ms < 1_000  # the proxy accepts again as soon as re-enabled


def test_a_suite_needs_exactly_one_of_traffic_or_probe() -> None:
    base = "service: s\nexperiments: [{name: x, fault: {type: down, proxy: p}}]\n"
    base += "proxies: [{name: p, listen: '127.0.0.1:1', upstream: '127.0.0.1:2'}]\n"
    with pytest.raises(SuiteError, match="exactly one of 'traffic'"):
        parse_suite(base)


def test_a_probe_off_loopback_is_refused_with_its_line() -> None:
    text = (
        "service: s\n"
        "probe: {kind: postgres, dsn: 'postgresql://db.example.com/x'}\n"
        "experiments: [{name: x, fault: {type: down, proxy: p}}]\n"
        "proxies: [{name: p, listen: '127.0.0.1:1', upstream: '127.0.0.1:2'}]\n"
    )
    with pytest.raises(SuiteError) as info:
        parse_suite(text, file="s.yaml")
    (problem,) = info.value.problems
    assert problem.path == "probe.dsn"
    assert "'db.example.com' is not on loopback" in problem.message
    assert problem.line == 2
