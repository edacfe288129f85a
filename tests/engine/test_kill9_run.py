"""kill -9 of ``cwb run`` / ``cwb demo``: nothing the run started is left running.

A real ``cwb`` process runs a suite with a supervised service (which forks a child into its
process group, as PostgreSQL forks its workers), the built-in fault proxy and a process it
only adopts. It is killed with SIGKILL in a chosen phase; then every process of its tree
(as it was just before the kill) must be gone within the watchdog's reaction plus one
grace period, the ports free again, the adopted process still running.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import yaml

from chaos_workbench.host import started
from chaos_workbench.host.spawn import port_open, process_running

CWB = [sys.executable, "-m", "chaos_workbench.cli"]
# The watchdog notices a dead controller within 0.1 s; stopping takes at most one SIGTERM
# grace period (5 s); a loaded 2-core machine adds seconds of Python start-up here and there.
STOPPED_WITHIN_S = 0.1 + 5 + 5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def poll(check: Callable[[], bool], timeout_s: float, what: str) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"{what} not reached within {timeout_s} s")
        time.sleep(0.05)
    return time.monotonic() - start


def journal_events(run_dir: Path) -> list[str]:
    try:
        lines = (run_dir / "journal.jsonl").read_text().splitlines()
    except OSError:
        return []
    return [json.loads(line)["event"] for line in lines if line.endswith("}")]


@pytest.fixture
def adopted(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A process the suite adopts by pid file: the run must never stop it."""
    proc = subprocess.Popen(["sleep", "600"], start_new_session=True)
    pid_file = tmp_path / "adopted.pid"
    pid_file.write_text(f"{proc.pid}\n")
    yield proc.pid, pid_file
    proc.kill()
    proc.wait(10)


def write_suite(tmp_path: Path, svc_port: int, proxy_port: int, adopted_pid_file: Path) -> Path:
    # The service forks a child into its group first (PostgreSQL's workers, in miniature).
    command = f"sleep 600 & exec {sys.executable} -m http.server {svc_port} --bind 127.0.0.1"
    suite = {
        "service": "kill9",
        "traffic": {"url": f"http://127.0.0.1:{proxy_port}/", "rate_per_s": 20},
        "proxies": [
            {
                "name": "web",
                "listen": f"127.0.0.1:{proxy_port}",
                "upstream": f"127.0.0.1:{svc_port}",
            }
        ],
        "processes": [
            {
                "name": "svc",
                "command": ["/bin/sh", "-c", command],
                "ready": {"port": svc_port, "timeout_s": 30},
            },
            {"name": "outsider", "pid_file": str(adopted_pid_file)},
        ],
        "defaults": {"baseline_s": 1.5, "fault_s": 4, "recovery_timeout_s": 6},
        "experiments": [
            {"name": "slow", "fault": {"type": "latency", "proxy": "web", "latency_ms": 20}}
        ],
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


@pytest.mark.slow
@pytest.mark.parametrize(
    ("phase", "event"),
    [("baseline", "experiment_start"), ("fault", "inject"), ("recovery", "reverted")],
)
def test_kill9_of_cwb_run_leaves_nothing_it_started(
    tmp_path: Path, adopted: tuple[int, Path], phase: str, event: str
) -> None:
    adopted_pid, adopted_pid_file = adopted
    svc_port, proxy_port = free_port(), free_port()
    suite = write_suite(tmp_path, svc_port, proxy_port, adopted_pid_file)
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [*CWB, "run", str(suite), "--run-dir", str(run_dir), "--no-history"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        poll(lambda: event in journal_events(run_dir), 60, f"the {phase} phase")
        tree = psutil.Process(proc.pid).children(recursive=True)
        pids = [p.pid for p in tree]
        assert len(pids) >= 4  # the service, its child, the proxy server, the watchdog
        things, _ = started.read_started(run_dir)
        assert {t.name for t in things} == {
            "svc",
            "fault proxy server",
            "fault proxy port file",
        }
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        took = poll(
            lambda: not [pid for pid in pids if process_running(pid)],
            STOPPED_WITHIN_S,
            "every process the run started stopped",
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert took < STOPPED_WITHIN_S
    assert not port_open("127.0.0.1", svc_port)
    assert not port_open("127.0.0.1", proxy_port)
    assert process_running(adopted_pid), "an adopted process was stopped"
    assert not list((run_dir / "leases").glob("*.json"))  # the fault was reverted, too
    assert not list(started.started_dir(run_dir).glob("*.json"))
    assert not (run_dir / "proxy").exists()  # the port file went with the proxy server
    events = [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    stopped = [e["detail"] for e in events if e["event"] == "safety.stopped"]
    assert any(line.startswith("stopped svc (pid ") for line in stopped), stopped
    assert any(line.startswith("stopped fault proxy server (pid ") for line in stopped), stopped


@pytest.mark.slow
@pytest.mark.demo
def test_kill9_of_cwb_demo_stops_every_server_and_removes_its_data(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [*CWB, "demo", "--run-dir", str(run_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,  # its history database goes to tmp_path/.cwb
    )
    try:
        poll(lambda: "inject" in journal_events(run_dir), 120, "the first experiment's fault")
        tree = psutil.Process(proc.pid).children(recursive=True)
        pids = [p.pid for p in tree]
        things, _ = started.read_started(run_dir)
        dirs = {t.name: t for t in things if isinstance(t, started.StartedDir)}
        assert set(dirs) == {"demo data", "fault proxy port file"}
        data = dirs["demo data"]
        assert Path(data.path).is_dir()
        names = {t.name for t in things if isinstance(t, started.StartedProcess)}
        assert names == {"db", "cache", "queue", "payments", "order-service", "fault proxy server"}
        assert len(pids) > len(names)  # PostgreSQL's workers, the watchdog
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        poll(
            lambda: not [pid for pid in pids if process_running(pid)],
            STOPPED_WITHIN_S + 10,  # PostgreSQL's shutdown on SIGTERM takes a moment
            "every demo server stopped",
        )
        poll(lambda: not Path(data.path).exists(), 5, "the demo's data directory removed")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
