"""`cwb run` as a user runs it: a real subprocess, real signals, a real fault left or not."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

CWB = [sys.executable, "-m", "chaos_workbench.cli"]


def write_suite(tmp_path: Path, url: str, fill_dir: Path, fault_s: float) -> Path:
    suite = {
        "service": "flaky",
        "traffic": {"url": url, "rate_per_s": 50},
        "defaults": {"baseline_s": 1, "fault_s": fault_s, "recovery_timeout_s": 5},
        "blast_radius": {"paths": [str(fill_dir)]},
        "experiments": [
            {"name": "fill", "fault": {"type": "disk_fill", "path": str(fill_dir), "size_mb": 4}}
        ],
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def fill_files(directory: Path) -> list[Path]:
    return list(directory.glob(".*.fill"))


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_fault_reverts_and_exits_with_128_plus_signal(
    flaky_service: str, tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    fill_dir = tmp_path / "fill"
    fill_dir.mkdir()
    suite = write_suite(tmp_path, flaky_service, fill_dir, fault_s=60)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [*CWB, "run", str(suite), "--run-dir", str(run_dir), "--no-history"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    deadline = time.monotonic() + 60
    while not fill_files(fill_dir):
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the fault was never applied"
        time.sleep(0.05)
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == code, output
    assert fill_files(fill_dir) == [], "the fill file outlived the run"
    assert "reverting every applied fault" in output
    report = json.loads((run_dir / "report.json").read_text())
    assert report["interrupted"] is True
    journal = (run_dir / "journal.jsonl").read_text()
    assert '"event": "reverted"' in journal


def test_a_bad_suite_is_exit_2_with_file_and_line_and_no_traceback(tmp_path: Path) -> None:
    suite = tmp_path / "bad.yaml"
    suite.write_text(
        "service: s\ntraffic: {url: 'http://127.0.0.1:1'}\nexperiments:\n"
        "  - name: x\n    fault: {type: latency, proxy: nowhere, latency_ms: -5}\n"
    )
    result = subprocess.run([*CWB, "run", str(suite)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert f"{suite}:5: experiments[0].fault" in result.stderr


@pytest.mark.slow
def test_sigusr1_aborts_the_experiment_and_the_run_goes_on(
    flaky_service: str, tmp_path: Path
) -> None:
    fill_dir = tmp_path / "fill"
    fill_dir.mkdir()
    suite = write_suite(tmp_path, flaky_service, fill_dir, fault_s=60)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [*CWB, "run", str(suite), "--run-dir", str(run_dir), "--no-history"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not fill_files(fill_dir):
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the fault was never applied"
        time.sleep(0.05)
    proc.send_signal(signal.SIGUSR1)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    assert fill_files(fill_dir) == []
    report = json.loads((run_dir / "report.json").read_text())
    assert report["interrupted"] is False
    (result,) = report["results"]
    assert result["status"] == "aborted"
    assert "SIGUSR1" in result["reason"]
