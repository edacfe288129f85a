"""A suite whose fault chooses its target at injection time, run for real by the engine:
the chosen member is killed and restarted, and the result names it (JSON report, terminal
reason, timeline, journal); a selector naming nobody ends the experiment as ERROR with
nothing killed."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from chaos_workbench.engine.runner import RunOptions, execute_suite
from chaos_workbench.experiments.schema import Suite
from chaos_workbench.model import ExperimentStatus
from chaos_workbench.reports.json_report import to_json
from chaos_workbench.reports.terminal import print_scorecard

WEB = "import http.server, sys; http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), http.server.SimpleHTTPRequestHandler).serve_forever()"

# Prints the pid of each member at each start, so the test can tell who was killed.
MEMBER = """
import os, socket, sys
with open(sys.argv[2], "a") as f:
    f.write(f"{sys.argv[3]} {os.getpid()}\\n")
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
while True:
    s.accept()[0].close()
"""


def suite(
    tmp_path: Path, free_port: Callable[[], int], answer: str | None
) -> tuple[Suite, dict[str, int], Path]:
    web = free_port()
    ports = {name: free_port() for name in ("n1", "n2", "n3")}
    starts = tmp_path / "starts.txt"
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("ok")
    members: list[dict[str, Any]] = [
        {
            "name": name,
            "command": [sys.executable, "-c", MEMBER, str(port), str(starts), name],
            "ready": {"port": port, "timeout_s": 20},
        }
        for name, port in ports.items()
    ]
    text = answer if answer is not None else f"127.0.0.1 {ports['n2']}"
    data: dict[str, Any] = {
        "service": "cluster",
        "seed": 3,
        # A lenient SLO: the test is about who is killed, and a busy machine (two test
        # workers beside it) must not make the steady state fail before injection.
        "traffic": {"url": f"http://127.0.0.1:{web}/", "rate_per_s": 40, "timeout_ms": 3000},
        "slo": {"success_ratio": 0.8},
        "defaults": {
            "baseline_s": 1.0,
            "fault_s": 1.0,
            "recovery_timeout_s": 5,
            "warmup_timeout_s": 10,
        },
        "processes": [
            {
                "name": "web",
                "command": [sys.executable, "-c", WEB, str(web)],
                "cwd": str(tmp_path / "www"),
                "ready": {"port": web, "timeout_s": 20},
            },
            *members,
        ],
        "experiments": [
            {
                "name": "kill the leader",
                "fault": {
                    "type": "process_kill",
                    "select": {
                        "command": [sys.executable, "-c", f"print({text!r})"],
                        "among": ["n1", "n2", "n3"],
                    },
                },
            }
        ],
    }
    return Suite.model_validate(data), ports, starts


def starts_of(path: Path) -> list[str]:
    return [line.split()[0] for line in path.read_text().splitlines()]


def terminal_text(record: Any) -> str:
    out = io.StringIO()
    print_scorecard(record, Console(file=out, width=200, color_system=None))
    return out.getvalue()


def journal(run_dir: Path) -> list[dict[str, Any]]:
    (path,) = run_dir.rglob("journal.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.slow
async def test_the_chosen_member_is_killed_restarted_and_named_in_the_report(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    spec, _, starts = suite(tmp_path, free_port, None)
    record = await execute_suite(spec, RunOptions(run_dir=tmp_path / "run"))
    (result,) = record.results
    # It ran (not inconclusive: nothing would have been killed; not an error).
    assert result.status in (ExperimentStatus.PASSED, ExperimentStatus.FAILED), result.reason
    # Each member started once, and n2 (only n2) a second time: killed, then restarted.
    assert sorted(starts_of(starts)) == ["n1", "n2", "n2", "n3"]
    assert result.details.startswith("SIGKILL to n2 (chosen by `")
    assert result.reason.endswith("(target chosen at injection: n2)")
    assert "chosen" in [e.kind for e in result.events]
    report = json.loads(to_json(record))["results"][0]
    assert report["details"].startswith("SIGKILL to n2")
    assert "target chosen at injection: n2" in report["reason"]
    assert "(target chosen at injection: n2)" in terminal_text(record)
    events = [e["event"] for e in journal(tmp_path / "run") if "event" in e]
    assert events.index("target_chosen") < events.index("inject")


@pytest.mark.slow
async def test_a_selector_naming_nobody_is_an_error_and_kills_nothing(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    spec, _, starts = suite(tmp_path, free_port, "no leader elected yet")
    record = await execute_suite(spec, RunOptions(run_dir=tmp_path / "run"))
    (result,) = record.results
    assert result.status is ExperimentStatus.ERROR
    assert "the fault could not be applied" in result.reason
    assert "'no leader elected yet', which names none of the processes n1, n2, n3" in (
        result.reason
    )
    assert sorted(starts_of(starts)) == ["n1", "n2", "n3"]  # nobody killed, nobody restarted
    assert "target chosen" not in result.reason
    assert "which names none" in terminal_text(record)
