"""``run_demo`` end to end through the real engine: start the system, run, clean up."""

from __future__ import annotations

import json
import socket
from dataclasses import astuple
from pathlib import Path

import psutil
import pytest

from chaos_workbench.demo import run_demo
from chaos_workbench.model import ExperimentStatus, ImpactLevel

pytestmark = [pytest.mark.demo, pytest.mark.slow]


def test_kill_db_with_resilience_on_passes_and_nothing_is_left_behind(tmp_path: Path) -> None:
    outcome = run_demo("on", run_dir=tmp_path / "run", only=("kill-db",), history=False)

    (result,) = outcome.record.results
    assert result.name == "kill-db"
    # The service rode out the database's death on its cache and outbox.
    assert result.status is ExperimentStatus.PASSED, result.reason
    assert not result.impact.worse_than(ImpactLevel.DEGRADED)
    assert result.recovered
    fault = result.phases["fault"]
    assert fault.requests > 100  # ~8 s at 50 req/s: traffic really ran
    report = json.loads(outcome.json_path.read_text())
    assert report["results"][0]["name"] == "kill-db"
    assert outcome.json_path.parent == outcome.run_dir

    assert not outcome.data_dir.exists()
    leftovers = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(outcome.data_dir) in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            leftovers.append(cmdline)
    assert not leftovers
    listening = [p for p in astuple(outcome.ports) if _accepts(p)]
    assert not listening  # every server and proxy listener is gone


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_keep_data_keeps_postgresql_data_out_of_the_runs_cleanup(tmp_path: Path) -> None:
    import shutil

    from chaos_workbench.host import started

    outcome = run_demo(
        "on", run_dir=tmp_path / "run", only=("db-latency",), history=False, keep_data=True
    )
    try:
        assert any(outcome.data_dir.iterdir())  # PostgreSQL's cluster is still there
        # Not recorded: a later cleanup of this run directory leaves it alone too.
        things, _ = started.read_started(outcome.run_dir)
        assert [t for t in things if isinstance(t, started.StartedDir)] == []
    finally:
        shutil.rmtree(outcome.data_dir, ignore_errors=True)
