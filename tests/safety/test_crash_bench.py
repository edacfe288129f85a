"""bench/crash_test.py itself, briefly: three trials (one hung controller), zero residues."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "crash_test.py"


@pytest.mark.slow
def test_crash_bench_reports_zero_residues() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--trials", "3", "--hung-every", "3", "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "trials: 3  with residue: 0" in result.stdout
    assert "SIGSTOP (hung controller): 1 clean" in result.stdout
