"""SIGINT/SIGTERM during the method: the run is interrupted and the rollbacks still run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ctk_support import Service, write

_RUNNER = """
import sys
from pathlib import Path
from chaos_workbench.chaostoolkit import run_chaostoolkit
sys.exit(run_chaostoolkit(Path(sys.argv[1]), journal_path=Path(sys.argv[2])))
"""


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_interrupts_the_method_and_rollbacks_run(
    sig: signal.Signals, service: Service, tmp_path: Path
) -> None:
    experiment = {
        "title": "interrupted",
        "description": "a long method, stopped by a signal",
        "configuration": {"url": service.url},
        "method": [
            {
                "type": "action",
                "name": "break",
                "provider": {"type": "http", "method": "POST", "url": "${url}/break"},
            },
            {
                "type": "action",
                "name": "wait-long",
                "provider": {"type": "process", "path": "sleep", "arguments": ["30"]},
            },
            {"type": "action", "name": "never", "provider": {"type": "process", "path": "true"}},
        ],
        "rollbacks": [
            {
                "type": "action",
                "name": "fix",
                "provider": {"type": "http", "method": "POST", "url": "${url}/fix"},
            },
        ],
    }
    path = write(tmp_path, "long.json", experiment)
    journal_path = tmp_path / "journal.json"
    with subprocess.Popen(
        [sys.executable, "-c", _RUNNER, str(path), str(journal_path)],
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        try:
            assert child.stdout is not None
            for line in child.stdout:
                if "Action: wait-long" in line:
                    break
            time.sleep(0.2)
            assert service.state.broken
            started = time.monotonic()
            child.send_signal(sig)
            rest = child.stdout.read()
            code = child.wait(timeout=20)
            assert time.monotonic() - started < 10
        finally:
            if child.poll() is None:
                child.kill()
    journal = json.loads(journal_path.read_text())
    assert code == 1
    assert journal["status"] == "interrupted"
    assert [e["activity"]["name"] for e in journal["run"]] == ["break"]
    assert [(e["activity"]["name"], e["status"]) for e in journal["rollbacks"]] == [
        ("fix", "succeeded")
    ]
    assert service.state.broken is False
    assert "Rollbacks run although the run interrupted" in rest


@pytest.mark.slow
def test_an_interrupted_measured_run_is_aborted_and_still_reported(
    service: Service, tmp_path: Path
) -> None:
    """SIGINT during the method of a run the ``cwb`` extension measures: the rollbacks run,
    the verdict is *aborted* (not a pass or a fail of the service), the report is written."""
    experiment = {
        "title": "interrupted while measured",
        "description": "a long method under load, stopped by a signal",
        "configuration": {"url": service.url},
        "method": [
            {
                "type": "action",
                "name": "break",
                "provider": {"type": "http", "method": "POST", "url": "${url}/break"},
            },
            {
                "type": "action",
                "name": "wait-long",
                "provider": {"type": "process", "path": "sleep", "arguments": ["30"]},
            },
        ],
        "rollbacks": [
            {
                "type": "action",
                "name": "fix",
                "provider": {"type": "http", "method": "POST", "url": "${url}/fix"},
            },
        ],
        "extensions": [
            {
                "name": "cwb",
                "traffic": {"url": f"{service.url}/health", "rate_per_s": 50},
                "window_ms": 100,
                "recovery_timeout_s": 5,
            }
        ],
    }
    path = write(tmp_path, "measured-long.json", experiment)
    journal_path = tmp_path / "journal.json"
    with subprocess.Popen(
        [sys.executable, "-c", _RUNNER, str(path), str(journal_path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    ) as child:
        try:
            assert child.stdout is not None
            for line in child.stdout:
                if "Action: wait-long" in line:
                    break
            deadline = time.monotonic() + 5
            while not service.state.broken and time.monotonic() < deadline:
                time.sleep(0.02)
            assert service.state.broken
            child.send_signal(signal.SIGINT)
            rest = child.stdout.read()
            code = child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
    journal = json.loads(journal_path.read_text())
    assert code == 1, rest
    assert journal["status"] == "interrupted"
    assert [(e["activity"]["name"], e["status"]) for e in journal["rollbacks"]] == [
        ("fix", "succeeded")
    ]
    assert not service.state.broken
    cwb = journal["cwb"]
    assert cwb["status"] == "aborted", cwb
    assert cwb["reason"].startswith("interrupted (Chaos Toolkit status)"), cwb
    assert cwb["report"] is not None
    assert Path(cwb["report"]).is_file()
    assert "Grade" in rest or "aborted" in rest
