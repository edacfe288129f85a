"""The default run directory: named after the service, always directly under .cwb/runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos_workbench.engine.runner import DEFAULT_RUNS_DIR, default_run_dir


def test_a_plain_service_name_reads_as_itself() -> None:
    run_dir = default_run_dir("order-service")
    assert run_dir.parent == DEFAULT_RUNS_DIR
    assert "-order-service-" in run_dir.name


@pytest.mark.parametrize(
    "service", ["x/../../../escaped", "../..", "/etc/passwd", "a\x00b", "Payments API: 80%"]
)
def test_a_service_name_never_leaves_the_runs_directory(service: str) -> None:
    run_dir = default_run_dir(service)
    assert run_dir.parent == DEFAULT_RUNS_DIR
    assert "/" not in run_dir.name
    assert "\x00" not in run_dir.name


def test_a_very_long_service_name_still_makes_a_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 characters used to end the run with "File name too long" (exit 1)."""
    monkeypatch.chdir(tmp_path)
    run_dir = default_run_dir("s" * 300)
    assert len(run_dir.name.encode()) < 255
    run_dir.mkdir(parents=True)
    assert run_dir.resolve().parent == (tmp_path / DEFAULT_RUNS_DIR).resolve()
