"""The safety net with real processes: leases, the watchdog after kill -9 or a hang, cleanup."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from chaos_workbench.host import cgroups as cg
from chaos_workbench.host.spawn import port_open, process_running, read_pid_file
from chaos_workbench.safety import SafetyNet, revert_run
from chaos_workbench.safety.actions import DeletePath, StartProcess
from chaos_workbench.safety.cli import app
from chaos_workbench.safety.leases import read_leases

CONTROLLER = Path(__file__).resolve().parents[2] / "bench" / "crash_controller.py"
DEADLINE_S = 2.0


class Trial:
    """One run of bench/crash_controller.py, with everything needed to clean up after it."""

    def __init__(self, run_dir: Path, fault: str, port: int, hold_s: float = 30.0) -> None:
        self.run_dir = run_dir
        self.phase_file = run_dir / "phase"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(CONTROLLER),
                str(run_dir),
                fault,
                "--port",
                str(port),
                "--hold-s",
                str(hold_s),
                "--deadline-s",
                str(DEADLINE_S),
                "--renew-s",
                "0.25",
            ],
            stderr=subprocess.PIPE,
        )

    def wait_phase(self, name: str, timeout_s: float = 60.0) -> None:
        poll(lambda: _read(self.phase_file) == name, timeout_s, f"phase {name}")

    def watchdog_pid(self) -> int:
        return int(json.loads((self.run_dir / "safety" / "watchdog.json").read_text())["pid"])

    def pid_of(self, name: str) -> int | None:
        return read_pid_file(self.run_dir / "pids" / f"{name}.pid")

    def teardown(self) -> None:
        """Kill what the controller left running on purpose (its supervised processes)."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        for pid_file in (self.run_dir / "pids").glob("*.pid"):
            pid = read_pid_file(pid_file)
            if pid is not None and process_running(pid):
                os.killpg(pid, signal.SIGKILL)
        for group in Path("/sys/fs/cgroup").glob("*/cwb-*"):
            if _owned_by(group, self.run_dir):
                cg.remove(cg.at(group))


def _owned_by(group: Path, run_dir: Path) -> bool:
    import hashlib

    digest = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:8]
    return group.name.startswith(f"cwb-{digest}-")


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def poll(check: Callable[[], bool], timeout_s: float, what: str = "condition") -> float:
    """Wait for ``check``; return the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"{what} not reached within {timeout_s} s")
        time.sleep(0.02)
    return time.monotonic() - start


def _lines(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


@pytest.fixture
def trial(run_dir: Path, free_port: Callable[[], int]) -> Iterator[Callable[..., Trial]]:
    made: list[Trial] = []

    def make(fault: str, hold_s: float = 30.0, name: str = "run") -> Trial:
        t = Trial(run_dir.parent / name, fault, free_port(), hold_s)
        made.append(t)
        return t

    yield make
    for t in made:
        t.teardown()


async def test_lease_is_durable_updated_and_released(run_dir: Path) -> None:
    victim = run_dir / "victim"
    async with SafetyNet(run_dir, renew_every_s=0.2, deadline_s=2) as net:
        assert net.watchdog_pid is not None
        watchdog = psutil.Process(net.watchdog_pid)
        assert os.getsid(watchdog.pid) != os.getsid(0)  # its own session
        lease = net.lease("exp 1", "disk fill", [])
        (path, record), *_ = read_leases(run_dir)[0]
        assert path == lease.path
        assert record.actions == ()
        lease.update([DeletePath(path=str(victim))])
        assert read_leases(run_dir)[0][0][1].actions == (DeletePath(path=str(victim)),)
        lease.release()
        assert read_leases(run_dir)[0] == []
        # a lease left at exit is reverted by the net itself, except process restarts
        # (the supervisor is stopping everything: a restart would outlive the run)
        victim.write_text("x")
        marker = run_dir / "restarted"
        restart = StartProcess(name="db", command=("/bin/sh", "-c", f"touch {marker}"))
        net.lease("exp 2", "disk fill", [DeletePath(path=str(victim)), restart])
    assert not victim.exists()
    assert net.exit_report is not None
    assert net.exit_report.leases[0].outcomes[1].detail.startswith("skipped")
    assert not marker.exists()
    assert not watchdog.is_running()  # stopped (and reaped) with the net
    events = [
        json.loads(line)["event"] for line in (run_dir / "journal.jsonl").read_text().splitlines()
    ]
    assert "safety.lease_reverted" in events
    assert events[-1] == "safety.watchdog_stopped"


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["pause", "disk", "kill", "cpu", "memory"])
def test_kill9_of_the_controller_is_reverted_by_the_watchdog(
    trial: Callable[..., Trial], fault: str
) -> None:
    t = trial(fault)
    t.wait_phase("hold")
    server_before = t.pid_of("server")
    fill = list(t.run_dir.glob(".cwb-*.fill"))
    assert (fault == "disk") == bool(fill)
    started = [p.pid for p in psutil.Process(t.proc.pid).children(recursive=True)]
    counter_pid = t.pid_of("counter")
    t.proc.send_signal(signal.SIGKILL)
    t.proc.wait(10)
    took = poll(lambda: read_leases(t.run_dir)[0] == [], DEADLINE_S + 2, "leases reverted")
    assert took <= DEADLINE_S + 2
    # no residue of any kind: the fault is reverted ...
    assert not list(t.run_dir.glob(".cwb-*"))
    assert not [p for p in psutil.process_iter() if _hog_of(p, t.proc.pid)]
    # ... and the run is over, so what it started is stopped too (a paused counter is
    # thawed first: a frozen process could not even die), and nothing was restarted.
    poll(
        lambda: not [pid for pid in started if process_running(pid)],
        5 + 2,
        "every process the run started stopped",
    )
    assert not port_open("127.0.0.1", _port(t))
    if fault == "kill":  # the revert's restart was skipped: nothing new runs
        assert t.pid_of("server") == server_before
    assert counter_pid is not None
    assert not process_running(counter_pid)
    counter = t.run_dir / "count.txt"
    at = _lines(counter)
    time.sleep(0.2)  # the counter wrote a line every 20 ms while it lived
    assert _lines(counter) == at
    poll(lambda: not psutil.pid_exists(t.watchdog_pid()), 5, "watchdog exit")
    events = [json.loads(line) for line in (t.run_dir / "journal.jsonl").read_text().splitlines()]
    stopped = [e["detail"] for e in events if e["event"] == "safety.stopped"]
    # (a server the fault had killed is not there to stop)
    assert any(line.startswith("stopped server (pid ") for line in stopped) != (fault == "kill")
    assert any(line.startswith("stopped counter (pid ") for line in stopped), stopped
    assert not list((t.run_dir / "started").glob("*.json"))  # nothing left to stop


def _port(t: Trial) -> int:
    return int(t.proc.args[t.proc.args.index("--port") + 1])  # type: ignore[union-attr, index]


def _hog_of(proc: psutil.Process, controller: int) -> bool:
    try:
        return proc.environ().get("CWB_PARENT_PID") == str(controller) and proc.status() != "zombie"
    except psutil.Error:
        return False


@pytest.mark.slow
def test_a_hung_controller_is_reverted_after_the_deadline(trial: Callable[..., Trial]) -> None:
    t = trial("disk")
    t.wait_phase("hold")
    (fill,) = t.run_dir.glob(".cwb-*.fill")
    t.proc.send_signal(signal.SIGSTOP)  # alive but renewing nothing: a hung event loop
    try:
        took = poll(lambda: not fill.exists(), DEADLINE_S + 2, "fill file deleted")
        # it waited for the deadline (the controller is alive), then acted promptly
        assert took >= DEADLINE_S * 0.8
        assert psutil.Process(t.watchdog_pid()).is_running()  # still watching
    finally:
        t.proc.send_signal(signal.SIGCONT)


@pytest.mark.slow
def test_watchdog_killed_too_then_cleanup_and_next_run_revert(
    trial: Callable[..., Trial],
) -> None:
    t = trial("disk")
    t.wait_phase("hold")
    os.kill(t.watchdog_pid(), signal.SIGKILL)
    t.proc.send_signal(signal.SIGKILL)
    t.proc.wait(10)
    (fill,) = t.run_dir.glob(".cwb-*.fill")
    assert fill.exists()  # nobody left to revert: the lease is what remains
    runner = CliRunner()
    server = t.pid_of("server")
    assert server is not None
    assert process_running(server)  # nobody left to stop what the run started, either
    result = runner.invoke(app, ["cleanup", "--root", str(t.run_dir.parent)])
    assert result.exit_code == 0, result.output
    assert "reverted disk fill" in result.output
    assert "delete_path" in result.output
    assert not fill.exists()
    # cleanup says what it stopped, and it is stopped, with its cgroups
    assert f"stopped server (pid {server}, SIGTERM)" in result.output
    assert not process_running(server)
    assert not port_open("127.0.0.1", _port(t))
    assert not [g for g in Path("/sys/fs/cgroup").glob("*/cwb-*") if _owned_by(g, t.run_dir)]
    result = runner.invoke(app, ["cleanup", str(t.run_dir)])
    assert result.exit_code == 0
    assert "nothing to clean" in result.output

    # the same situation again, cleaned this time by the next run's safety net
    t2 = trial("disk", name="run2")
    t2.wait_phase("hold")
    os.kill(t2.watchdog_pid(), signal.SIGKILL)
    t2.proc.send_signal(signal.SIGKILL)
    t2.proc.wait(10)
    (fill2,) = t2.run_dir.glob(".cwb-*.fill")

    server2 = t2.pid_of("server")
    assert server2 is not None
    assert process_running(server2)

    async def next_run() -> tuple[list[str], list[str]]:
        async with SafetyNet(t.run_dir.parent / "run3") as net:
            faults = [lease.fault for r in net.leftovers for lease in r.leases]
            return faults, [line for r in net.leftovers for line in r.stopped]

    faults, stopped = asyncio.run(next_run())
    assert faults == [f"disk fill 16 MB under {t2.run_dir}"]
    assert not fill2.exists()
    assert f"stopped server (pid {server2}, SIGTERM)" in stopped
    assert not process_running(server2)


@pytest.mark.slow
def test_sigterm_reverts_and_leaves_no_child(trial: Callable[..., Trial]) -> None:
    t = trial("cpu")
    t.wait_phase("hold")
    children = psutil.Process(t.proc.pid).children(recursive=True)
    assert len(children) >= 4  # server, counter, watchdog, the hog and its worker
    t.proc.send_signal(signal.SIGTERM)
    assert t.proc.wait(30) == 128 + signal.SIGTERM
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert [p for p in alive if p.status() != "zombie"] == []
    assert read_leases(t.run_dir)[0] == []


async def test_a_killed_watchdog_is_restarted_by_the_renewal(run_dir: Path) -> None:
    async with SafetyNet(run_dir, renew_every_s=0.1, deadline_s=2) as net:
        first = net.watchdog_pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        for _ in range(300):
            if (
                net.watchdog_pid not in (None, first)
                and (run_dir / "safety/watchdog.json").exists()
            ):
                break
            await asyncio.sleep(0.05)
        assert net.watchdog_pid not in (None, first)
    events = [
        json.loads(line)["event"] for line in (run_dir / "journal.jsonl").read_text().splitlines()
    ]
    assert "safety.watchdog_restarted" in events


def test_revert_run_keeps_a_lease_whose_action_failed(run_dir: Path) -> None:
    from chaos_workbench.safety.actions import RemoveToxic
    from chaos_workbench.safety.leases import LeaseRecord, write_lease

    unreachable = RemoveToxic(api_url="http://127.0.0.1:9", proxy="db", toxic="t")
    write_lease(
        run_dir,
        LeaseRecord(id="1", experiment="e", fault="f", created_at="now", actions=(unreachable,)),
    )
    report = revert_run(run_dir, source="test", reason="test")
    assert not report.leases[0].ok
    assert len(read_leases(run_dir)[0]) == 1  # kept for the next cleanup to retry
