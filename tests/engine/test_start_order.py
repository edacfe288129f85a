"""Proxies listen before any process starts, so a service that needs its dependency at
start-up can be tested: real processes, a real dependency reached through the proxy."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from chaos_workbench.engine.runner import RunOptions, execute_suite
from chaos_workbench.experiments.schema import Suite
from chaos_workbench.model import ExperimentStatus, ImpactLevel

SERVICE = Path(__file__).with_name("dependent_service.py")


def _free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _suite(mode: str, fault: dict[str, object], tmp_path: Path) -> Suite:
    svc, proxy, dep = _free_ports(3)
    (tmp_path / "www").mkdir()
    return Suite.model_validate(
        {
            "service": f"dependent-{mode}",
            "seed": 3,
            "traffic": {"url": f"http://127.0.0.1:{svc}", "rate_per_s": 40, "timeout_ms": 1000},
            "proxies": [
                {"name": "dep", "listen": f"127.0.0.1:{proxy}", "upstream": f"127.0.0.1:{dep}"}
            ],
            "processes": [
                {
                    "name": "dep",
                    "command": [
                        sys.executable,
                        "-m",
                        "http.server",
                        str(dep),
                        "--bind",
                        "127.0.0.1",
                        "--directory",
                        str(tmp_path / "www"),
                    ],
                    "ready": {"port": dep, "timeout_s": 20},
                },
                {
                    "name": "svc",
                    "command": [
                        sys.executable,
                        str(SERVICE),
                        "--port",
                        str(svc),
                        "--dep",
                        f"127.0.0.1:{proxy}",
                        "--mode",
                        mode,
                    ],
                    "ready": {"http": f"http://127.0.0.1:{svc}/ready", "timeout_s": 20},
                },
            ],
            "defaults": {"baseline_s": 1.0, "fault_s": 1.5, "recovery_timeout_s": 8},
            "experiments": [{"name": "dep-fault", "fault": fault}],
        }
    )


@pytest.mark.slow
async def test_a_service_that_waits_for_its_dependency_at_start_becomes_ready(
    tmp_path: Path,
) -> None:
    """Before, the service found no proxy listening and the run stopped with
    "process 'svc' not ready within 20 s"; now it is ready, and its dependency's outage
    through the proxy is measured and recovered from."""
    suite = _suite("wait", {"type": "down", "proxy": "dep"}, tmp_path)
    record = await execute_suite(suite, RunOptions(run_dir=tmp_path / "run"))
    (result,) = record.results
    assert result.status is not ExperimentStatus.INCONCLUSIVE, result.reason
    assert result.impact is ImpactLevel.FULL_OUTAGE  # every request needs the dependency
    assert result.recovered, result.reason
    log = (tmp_path / "run" / "logs" / "svc.log").read_text()
    assert "dependency answered: ready" in log


@pytest.mark.slow
async def test_a_service_that_latches_broken_on_a_missing_dependency_starts_healthy(
    tmp_path: Path,
) -> None:
    """The run measures the service, not our start-up order: its one check at start finds
    the dependency through the proxy, so it never latches broken."""
    fault = {"type": "latency", "proxy": "dep", "latency_ms": 5}
    record = await execute_suite(
        _suite("latch", fault, tmp_path), RunOptions(run_dir=tmp_path / "run")
    )
    (result,) = record.results
    assert result.status is ExperimentStatus.PASSED, result.reason
    assert result.phases["baseline"].success_ratio == 1.0
    log = (tmp_path / "run" / "logs" / "svc.log").read_text()
    assert "dependency answered at start: ready" in log
    assert "broken for good" not in log
