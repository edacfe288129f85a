"""A process's log and pid files stay in the run directory whatever its name.

Suite validation already refuses such names (``host.names.Identifier``); this is the second
line, for specs a Python caller builds without validation (``model_construct``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos_workbench.processes import Supervisor
from chaos_workbench.processes.spec import ProcessSpec, ReadinessSpec


def _unvalidated(name: str) -> ProcessSpec:
    return ProcessSpec.model_construct(
        name=name, command=("true",), pid_file=None, cwd=None, env={}, ready=ReadinessSpec()
    )


@pytest.mark.parametrize("name", ["../../escaped", "/etc/x", "a" * 300, "..", "api"])
def test_log_and_pid_files_stay_under_the_run_directory(name: str, tmp_path: Path) -> None:
    supervisor = Supervisor([_unvalidated(name)], run_dir=tmp_path)
    assert supervisor.log_path(name).parent == tmp_path / "logs"
    assert supervisor.pid_file(name).parent == tmp_path / "pids"
    assert len(supervisor.log_path(name).name) < 255


def test_a_valid_name_is_used_as_written(tmp_path: Path) -> None:
    supervisor = Supervisor([_unvalidated("api")], run_dir=tmp_path)
    assert supervisor.log_path("api") == tmp_path / "logs" / "api.log"
    assert supervisor.pid_file("api") == tmp_path / "pids" / "api.pid"
