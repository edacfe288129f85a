"""`cwb run experiment.json` recognises a Chaos Toolkit experiment and runs it as is, with
Chaos Toolkit's journal and exit codes (a real `cwb` process, real `process` providers)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CWB = [sys.executable, "-m", "chaos_workbench.cli"]


def experiment(tolerance: int) -> dict[str, object]:
    return {
        "title": "The service's health check passes",
        "description": "A process probe before and after a harmless action.",
        "steady-state-hypothesis": {
            "title": "health check exits 0",
            "probes": [
                {
                    "type": "probe",
                    "name": "health",
                    "tolerance": tolerance,
                    "provider": {"type": "process", "path": "true"},
                }
            ],
        },
        "method": [
            {
                "type": "action",
                "name": "say-hello",
                "provider": {"type": "process", "path": "echo", "arguments": "hello"},
            }
        ],
        "rollbacks": [],
    }


def run(
    tmp_path: Path, tolerance: int
) -> tuple[subprocess.CompletedProcess[str], dict[str, object]]:
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(experiment(tolerance)))
    journal = tmp_path / "journal.json"
    result = subprocess.run(
        [*CWB, "run", str(path), "--journal-path", str(journal)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result, json.loads(journal.read_text())


def test_cwb_run_runs_a_chaos_toolkit_experiment_as_is(tmp_path: Path) -> None:
    result, journal = run(tmp_path, tolerance=0)
    assert result.returncode == 0, result.stdout + result.stderr
    assert journal["status"] == "completed"
    assert journal["deviated"] is False
    (activity,) = journal["run"]  # type: ignore[misc]
    assert activity["activity"]["name"] == "say-hello"
    assert activity["output"]["stdout"].strip() == "hello"


def test_a_steady_state_not_met_before_exits_0_as_chaos_run_does(tmp_path: Path) -> None:
    result, journal = run(tmp_path, tolerance=1)  # `true` exits 0, not 1: not met before
    assert journal["status"] == "completed"  # Chaos Toolkit's own status for this case
    assert journal["steady_states"]["before"]["steady_state_met"] is False  # type: ignore[index]
    assert journal["run"] == []  # the method did not run
    assert result.returncode == 0


def test_a_deviated_experiment_exits_1_and_writes_chaos_toolkits_journal(tmp_path: Path) -> None:
    marker = tmp_path / "broken"
    spec = experiment(tolerance=0)
    hypothesis = spec["steady-state-hypothesis"]
    assert isinstance(hypothesis, dict)
    hypothesis["probes"][0]["provider"] = {  # met while the marker file is absent
        "type": "process",
        "path": "test",
        "arguments": ["!", "-e", str(marker)],
    }
    spec["method"] = [
        {
            "type": "action",
            "name": "break-it",
            "provider": {"type": "process", "path": "touch", "arguments": [str(marker)]},
        }
    ]
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(spec))
    journal_path = tmp_path / "journal.json"
    result = subprocess.run(
        [*CWB, "run", str(path), "--journal-path", str(journal_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    journal = json.loads(journal_path.read_text())
    assert result.returncode == 1, result.stdout + result.stderr
    assert journal["deviated"] is True
    assert journal["steady_states"]["after"]["steady_state_met"] is False
