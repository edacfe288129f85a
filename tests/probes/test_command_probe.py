"""The command probe with real programs (``true``, ``false``, ``sh``): exit status, the
deadline killing the whole process group, the in-flight bound, and the declared host."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from probe_helpers import SPEC, collect, errors_of
from pydantic import ValidationError

from chaos_workbench.experiments.errors import SuiteError
from chaos_workbench.experiments.loader import parse_suite
from chaos_workbench.traffic.window import ErrorKind


async def test_exit_status_zero_is_a_success_and_anything_else_an_error() -> None:
    ok = await collect({"kind": "command", "command": ["true"], "host": "127.0.0.1"}, 0.5)
    assert sum(w.successes for w in ok) == sum(w.requests for w in ok) == 10
    bad = await collect({"kind": "command", "command": ["false"], "host": "127.0.0.1"}, 0.5)
    assert errors_of(bad) == {ErrorKind.OTHER: 10}


async def test_environment_is_added_to_the_workbench_s(tmp_path: Path) -> None:
    spec = {
        "kind": "command",
        "command": ["sh", "-c", 'test "$CWB_PROBE_X" = yes && test -n "$PATH"'],
        "env": {"CWB_PROBE_X": "yes"},
        "host": "127.0.0.1",
    }
    windows = await collect(spec, 0.5)
    assert sum(w.successes for w in windows) == 10


async def test_missing_program_is_an_error_on_every_call() -> None:
    spec = {"kind": "command", "command": ["/nonexistent/cwb-probe"], "host": "127.0.0.1"}
    windows = await collect(spec, 0.5)
    assert errors_of(windows) == {ErrorKind.OTHER: 10}


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


async def test_deadline_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # The shell records its pid (= its process group), leaves a child in the group and
    # waits: only a kill of the whole group ends both.
    script = f"echo $$ >> {pids}; sleep 30 & wait"
    spec = {
        "kind": "command",
        "command": ["sh", "-c", script],
        "host": "127.0.0.1",
        "rate_per_s": 4,
        "timeout_ms": 300,
    }
    started = time.monotonic()
    windows = await collect(spec, 0.5)
    assert time.monotonic() - started < 5  # not the 30 s of the sleeps
    assert errors_of(windows) == {ErrorKind.READ_TIMEOUT: 2}
    for w in windows:
        if w.requests:
            assert 250 <= (w.percentile_ms(50) or 0) < 2000  # failed at the deadline
    groups = [int(line) for line in pids.read_text().split()]
    assert len(groups) == 2
    deadline = time.monotonic() + 5
    while any(_group_alive(g) for g in groups) and time.monotonic() < deadline:
        time.sleep(0.02)  # bounded poll: the kill is asynchronous to this check
    assert not any(_group_alive(g) for g in groups)


async def test_at_most_max_in_flight_run_at_once(tmp_path: Path) -> None:
    log = tmp_path / "log"
    # Each run appends "+" when it starts and "-" when it ends (O_APPEND: lines are whole).
    script = f"echo + >> {log}; sleep 0.2; echo - >> {log}"
    spec = {
        "kind": "command",
        "command": ["sh", "-c", script],
        "host": "127.0.0.1",
        "rate_per_s": 20,
        "max_in_flight": 2,
        "timeout_ms": 5000,
    }
    windows = await collect(spec, 0.5)
    assert sum(w.successes for w in windows) == 10
    running, most = 0, 0
    for mark in log.read_text().split():
        running += 1 if mark == "+" else -1
        most = max(most, running)
    assert most == 2  # ten runs of 200 ms wanted at once; two at a time were allowed


def test_spec_needs_a_program_and_a_declared_host() -> None:
    with pytest.raises(ValidationError, match="host"):
        SPEC.validate_python({"kind": "command", "command": ["true"]})
    with pytest.raises(ValidationError, match="at least 1"):
        SPEC.validate_python({"kind": "command", "command": [], "host": "127.0.0.1"})
    with pytest.raises(ValidationError, match="program is empty"):
        SPEC.validate_python({"kind": "command", "command": [" "], "host": "127.0.0.1"})
    assert SPEC.validate_python({"kind": "command", "command": ["true"], "host": "::1"})


def test_declared_host_obeys_the_loopback_rule() -> None:
    text = (
        "service: s\n"
        "probe: {kind: command, command: [etcdctl, get, k], host: etcd.example.com}\n"
        "experiments:\n"
        "  - {name: e, fault: {type: cpu_pressure, workers: 1}}\n"
    )
    with pytest.raises(SuiteError, match=r"probe\.host.*etcd\.example\.com"):
        parse_suite(text)
    parse_suite(text + "blast_radius: {hosts: [etcd.example.com]}\n")
