"""SIGINT and SIGTERM to a parallel ``cwb run``: every fault reverted, every copy stopped.

A real ``cwb run --parallel 2`` subprocess with two experiments holding a latency fault for
30 s on copies of a real service, beside the control. The signal arrives while both faults
are held; afterwards no process any copy started is left, and no lease either.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for parallel_helpers (importlib mode)
from parallel_helpers import write_suite

CWB = [sys.executable, "-m", "chaos_workbench.cli"]
EXPERIMENTS = """
experiments:
  - name: slow-a
    fault: {type: latency, proxy: front, latency_ms: 200}
    fault_s: 30
  - name: slow-b
    fault: {type: latency, proxy: side, latency_ms: 200}
    fault_s: 30
"""


def injected(run_dir: Path) -> int:
    """How many experiment copies have applied their fault (from their journals)."""
    count = 0
    for journal in run_dir.glob("copies/*/journal.jsonl"):
        if '"event": "inject"' in journal.read_text():
            count += 1
    return count


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_every_copy_and_leaves_nothing(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    suite = write_suite(tmp_path / "suite.yaml", EXPERIMENTS)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [*CWB, "run", str(suite), "--parallel", "2", "--run-dir", str(run_dir), "--no-history"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        deadline = time.monotonic() + 60
        while injected(run_dir) < 2:
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the faults were never applied"
            time.sleep(0.05)
        # Every process of every copy: services, proxy servers, watchdogs.
        started = psutil.Process(proc.pid).children(recursive=True)
        assert len(started) >= 3 * 3, started  # 3 copies × (service, proxy, watchdog)
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, output
    _, alive = psutil.wait_procs(started, timeout=10)
    assert alive == [], [(p.pid, p.name()) for p in alive]
    assert list(run_dir.glob("**/leases/*")) == []
    report = json.loads((run_dir / "report.json").read_text())
    assert report["interrupted"] is True
    notes = " ".join(report["notes"])
    assert "slow-a: latency 200 ms on front" in notes
    assert "slow-b: latency 200 ms on side" in notes
