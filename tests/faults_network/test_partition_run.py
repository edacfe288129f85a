"""A partition run for real by the engine: a `down` fault on two of the suite's proxies
through the workbench's own proxy server, traffic through one of them to a real HTTP
server; the outage is total while held, the service recovers once both are enabled."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from chaos_workbench.engine.runner import RunOptions, execute_suite
from chaos_workbench.experiments.schema import Suite
from chaos_workbench.model import ExperimentStatus, ImpactLevel

WEB = (
    "import http.server, sys; http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])),"
    " http.server.SimpleHTTPRequestHandler).serve_forever()"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
async def test_down_on_two_proxies_is_a_full_outage_then_recovers(tmp_path: Path) -> None:
    web, via_a, via_b, via_c = (free_port() for _ in range(4))
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("ok")
    upstream = f"127.0.0.1:{web}"
    suite = Suite.model_validate(
        {
            "service": "partition",
            "seed": 5,
            "traffic": {"url": f"http://127.0.0.1:{via_a}/", "rate_per_s": 40, "timeout_ms": 500},
            "slo": {"success_ratio": 0.95},
            "defaults": {"baseline_s": 1.0, "fault_s": 1.5, "recovery_timeout_s": 5},
            "processes": [
                {
                    "name": "web",
                    "command": [sys.executable, "-c", WEB, str(web)],
                    "cwd": str(tmp_path / "www"),
                    "ready": {"port": web, "timeout_s": 20},
                }
            ],
            "proxies": [
                {"name": "a", "listen": f"127.0.0.1:{via_a}", "upstream": upstream},
                {"name": "b", "listen": f"127.0.0.1:{via_b}", "upstream": upstream},
                {"name": "c", "listen": f"127.0.0.1:{via_c}", "upstream": upstream},
            ],
            "experiments": [
                {"name": "partition", "fault": {"type": "down", "proxies": ["b", "a"]}},
            ],
        }
    )
    record = await execute_suite(suite, RunOptions(run_dir=tmp_path / "run"))
    (result,) = record.results
    assert result.status is ExperimentStatus.PASSED, result.reason
    assert result.details == "b and a down"
    assert result.impact is ImpactLevel.FULL_OUTAGE  # every request through `a` refused
    assert result.recovered
    fault = result.phases["fault"]
    assert fault.requests > 0
    assert fault.success_ratio == 0.0
    assert result.recovery_time_ms is not None  # a stable streak of successes after revert
    assert result.phases["recovery"].successes > 0
