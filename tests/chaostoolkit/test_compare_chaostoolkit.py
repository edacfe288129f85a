"""The same files under `chaos run` (Chaos Toolkit itself, from the dev extra) and under our
runner: the same status, deviation, exit code and activity outcomes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from ctk_support import EXPERIMENTS, Service, run

CHAOS = Path(sys.executable).parent / "chaos"


@pytest.mark.slow
@pytest.mark.skipif(not CHAOS.exists(), reason="chaostoolkit is not installed (dev extra)")
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("completed.json", ("completed", False, 0)),
        ("deviated.yaml", ("completed", True, 1)),
        ("failed_action.json", ("completed", False, 0)),
        ("before_not_met.yaml", ("completed", False, 0)),
    ],
)
def test_same_outcome_as_chaos_run(
    name: str, expected: tuple[str, bool, int], service: Service, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    env = {
        "SERVICE_URL": service.url,
        "DEAD_URL": f"http://127.0.0.1:{dead}",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    ctk_journal = tmp_path / "ctk.json"
    chaos = subprocess.run(
        [
            str(CHAOS),
            "--no-log-file",
            "run",
            "--journal-path",
            str(ctk_journal),
            str(EXPERIMENTS / name),
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    theirs = json.loads(ctk_journal.read_text())
    service.state.broken = False
    ours = run(EXPERIMENTS / name, tmp_path, env)

    def outcome(journal: dict, code: int) -> tuple[str, bool, int]:  # type: ignore[type-arg]
        return journal["status"], journal["deviated"], code

    assert outcome(theirs, chaos.returncode) == expected, chaos.stderr[-2000:]
    assert outcome(ours.journal, ours.code) == expected
    steps = [(e["activity"]["name"], e["status"]) for e in theirs["run"]]
    assert [(e["activity"]["name"], e["status"]) for e in ours.journal["run"]] == steps
    for when in ("before", "after"):
        theirs_state, ours_state = (
            theirs["steady_states"][when],
            ours.journal["steady_states"][when],
        )
        assert (theirs_state is None) == (ours_state is None)
        if theirs_state is not None:
            assert theirs_state["steady_state_met"] == ours_state["steady_state_met"]
    assert len(theirs["rollbacks"]) == len(ours.journal["rollbacks"])
    assert set(theirs) <= set(ours.journal) | {"settings"}
