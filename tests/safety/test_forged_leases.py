"""A lease is an instruction the watchdog, ``cwb cleanup`` and the next run carry out, often
as root. Forged ones — asking for more than a revert may do, or written by someone else —
are refused and reported, and nothing happens. Real processes, files and sockets only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psutil
import pytest
from typer.testing import CliRunner

from chaos_workbench.host.private import UnsafePath, make_private_dir
from chaos_workbench.safety import SafetyNet, clean_orphans, revert_run
from chaos_workbench.safety.actions import (
    DeletePath,
    KillProcess,
    RemoveCgroup,
    RemoveToxic,
    RevertAction,
    SignalProcess,
    StartProcess,
)
from chaos_workbench.safety.cli import app
from chaos_workbench.safety.leases import (
    ControllerInfo,
    LeaseRecord,
    safety_dir,
    write_atomic,
    write_lease,
)
from chaos_workbench.safety.net import SafetyError
from chaos_workbench.safety.policy import DeclaredProcess, RevertPolicy, policy_path


def dead_run(run_dir: Path, actions: list[RevertAction], policy: RevertPolicy) -> Path:
    """A run directory as a crashed run leaves it: a dead controller, one lease."""
    make_private_dir(run_dir)
    gone = subprocess.Popen(["true"])
    gone.wait(10)
    info = ControllerInfo(pid=gone.pid, create_time=0.0, renew_every_s=1, deadline_s=5)
    write_atomic(safety_dir(run_dir) / "controller.json", info.model_dump_json().encode())
    write_atomic(policy_path(run_dir), policy.model_dump_json().encode())
    record = LeaseRecord(
        id="0001-forged",
        experiment="forged",
        fault="forged",
        created_at=datetime.now(UTC).isoformat(),
        actions=tuple(actions),
    )
    return write_lease(run_dir, record)


@pytest.fixture
def outsider() -> Iterator[psutil.Process]:
    """An unrelated process the test started: no lease may touch it."""
    proc = subprocess.Popen(["sleep", "600"], start_new_session=True)
    yield psutil.Process(proc.pid)
    proc.kill()
    proc.wait(10)


def carried_out(run_dir: Path) -> list[tuple[bool, str]]:
    (report,) = clean_orphans([run_dir], source="test")
    return [(o.ok, o.detail) for lease in report.leases for o in lease.outcomes]


def test_a_lease_may_not_delete_outside_the_run_and_its_blast_radius(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.write_text("keep me")
    allowed = tmp_path / "fills"
    allowed.mkdir()
    (allowed / "fill").write_text("x")
    run_dir = tmp_path / "runs" / "run"
    actions: list[RevertAction] = [
        DeletePath(path=str(precious)),
        DeletePath(path=str(run_dir / ".." / ".." / "precious")),  # `..` leads out too
        DeletePath(path=str(allowed)),  # the blast radius root itself: never
        DeletePath(path=str(allowed / "fill")),  # inside it: a real revert
    ]
    lease = dead_run(run_dir, actions, RevertPolicy(allowed_paths=(str(allowed),)))
    outcomes = carried_out(run_dir)
    assert [ok for ok, _ in outcomes] == [False, False, False, True]
    assert outcomes[0][1] == (
        f"refused: {precious} is outside the run directory and the suite's blast_radius.paths"
    )
    assert precious.read_text() == "keep me"
    assert allowed.is_dir()
    assert not (allowed / "fill").exists()
    assert lease.exists()  # a refused lease is kept for a human to look at


def test_a_lease_may_not_signal_or_kill_an_unrelated_process(
    tmp_path: Path, outsider: psutil.Process
) -> None:
    identity = {"pid": outsider.pid, "create_time": outsider.create_time()}
    actions: list[RevertAction] = [
        SignalProcess(**identity, signal=signal.SIGKILL),  # a revert only resumes
        SignalProcess(**identity, signal=signal.SIGCONT, cmdline="postgres -D /data"),
        KillProcess(**identity),  # not a workbench helper
    ]
    dead_run(tmp_path / "run", actions, RevertPolicy())
    outcomes = carried_out(tmp_path / "run")
    assert outcomes == [
        (False, "refused: a revert only resumes a stopped process (SIGCONT), not SIGKILL"),
        (
            False,
            f"refused: pid {outsider.pid} now runs 'sleep 600', not the process the fault stopped",
        ),
        (
            False,
            f"refused: pid {outsider.pid} is not a workbench helper (no CWB_FAULT_TAG in its "
            "environment)",
        ),
    ]
    assert outsider.is_running()
    assert outsider.status() != psutil.STATUS_STOPPED


def test_a_lease_may_not_run_a_command_the_suite_did_not_declare(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    declared = DeclaredProcess(name="db", command=("postgres", "-D", "/data"))
    actions: list[RevertAction] = [
        StartProcess(name="db", command=("/bin/sh", "-c", f"touch {marker}")),
        StartProcess(name="ghost", command=("/bin/sh", "-c", f"touch {marker}")),
    ]
    dead_run(tmp_path / "run", actions, RevertPolicy(processes=(declared,)))
    # Restarts happen while a hung controller may wake up (the watchdog's revert_run); once
    # the controller is dead they are skipped anyway.
    report = revert_run(tmp_path / "run", source="test", reason="heartbeat overdue")
    outcomes = [(o.ok, o.detail) for lease in report.leases for o in lease.outcomes]
    assert outcomes == [
        (False, "refused: process 'db': not the command the suite declared"),
        (False, "refused: the suite declares no process 'ghost' the workbench starts"),
    ]
    assert not marker.exists()


def test_a_lease_may_not_call_a_url_off_loopback_nor_remove_a_foreign_cgroup(
    tmp_path: Path,
) -> None:
    # A listener on loopback that must see no request: the refusal comes before any I/O.
    actions: list[RevertAction] = [
        RemoveToxic(api_url="http://10.11.12.13:8474", proxy="db", toxic="latency"),
        RemoveToxic(api_url="http://example.invalid:8474", proxy="db", toxic="latency"),
        RemoveCgroup(path="/sys/fs/cgroup/memory/system.slice"),
        RemoveCgroup(path=str(tmp_path)),
    ]
    dead_run(tmp_path / "run", actions, RevertPolicy())
    details = [detail for _, detail in carried_out(tmp_path / "run")]
    assert details[0] == (
        "refused: http://10.11.12.13:8474 is neither on loopback nor the suite's proxy_api"
    )
    assert details[1].startswith("refused: http://example.invalid:8474 is neither")
    assert details[2].startswith("refused: /sys/fs/cgroup/memory/system.slice is not a cgroup")
    assert details[3] == f"refused: {tmp_path} is not a cgroup (under no mounted cgroup hierarchy)"


def test_the_suites_own_proxy_api_and_loopback_are_allowed(tmp_path: Path) -> None:
    """The bound lets a real revert through: a DELETE reaches a loopback API."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        actions: list[RevertAction] = [
            RemoveToxic(api_url=f"http://127.0.0.1:{port}", proxy="db", toxic="latency")
        ]
        dead_run(tmp_path / "run", actions, RevertPolicy())
        child = subprocess.Popen(
            [sys.executable, "-c", _ONE_HTTP_404, str(server.fileno())], pass_fds=[server.fileno()]
        )
        try:
            assert carried_out(tmp_path / "run") == [(True, "toxic latency on db already gone")]
        finally:
            child.wait(10)


_ONE_HTTP_404 = """
import socket, sys
s = socket.socket(fileno=int(sys.argv[1]))
c, _ = s.accept()
c.recv(65536)
c.sendall(b"HTTP/1.1 404 Not Found\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n")
c.close()
"""


@pytest.mark.parametrize("mode", [0o660, 0o606])
def test_a_lease_others_could_write_is_refused_and_reported(tmp_path: Path, mode: int) -> None:
    victim = tmp_path / "run" / "victim"
    lease = dead_run(tmp_path / "run", [DeletePath(path=str(victim))], RevertPolicy())
    victim.write_text("x")
    os.chmod(lease, mode)
    (report,) = clean_orphans([tmp_path / "run"], source="test")
    assert report.leases == []
    assert report.problems == [
        f"{lease}: refused: the file is writable by group or others (mode {mode:04o}); only "
        "its owner may write it (lease not carried out)"
    ]
    assert victim.exists()
    journal = (tmp_path / "run" / "journal.jsonl").read_text()
    assert "safety.lease_unreadable" in journal


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_lease_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    victim = tmp_path / "run" / "victim"
    lease = dead_run(tmp_path / "run", [DeletePath(path=str(victim))], RevertPolicy())
    victim.write_text("x")
    os.chown(lease, 65534, 65534)  # nobody
    (report,) = clean_orphans([tmp_path / "run"], source="test")
    assert report.leases == []
    assert "refused: the file is owned by uid 65534, not by you (uid 0)" in report.problems[0]
    assert victim.exists()


def test_a_run_directory_others_can_write_is_refused_by_cleanup(tmp_path: Path) -> None:
    victim = tmp_path / "run" / "victim"
    dead_run(tmp_path / "run", [DeletePath(path=str(victim))], RevertPolicy())
    victim.write_text("x")
    os.chmod(tmp_path / "run", 0o777)
    result = CliRunner().invoke(app, ["cleanup", str(tmp_path / "run")])
    assert "refused: the directory is writable by group or others (mode 0777)" in result.output
    assert "nothing carried out" in result.output
    assert victim.exists()


@pytest.mark.parametrize("mode", [0o777, 0o770])
async def test_a_precreated_run_directory_others_can_write_is_refused(
    tmp_path: Path, mode: int
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    os.chmod(run_dir, mode)
    with pytest.raises(SafetyError, match=r"writable by group or others"):
        async with SafetyNet(run_dir):
            pass
    assert not (run_dir / "leases").exists()  # refused before anything was written


def test_new_run_directories_are_private(tmp_path: Path) -> None:
    run_dir = make_private_dir(tmp_path / "a" / "b" / "run")
    for path in (run_dir, run_dir.parent, run_dir.parent.parent):
        assert path.stat().st_mode & 0o777 == 0o700
    (tmp_path / "link").symlink_to(run_dir)
    with pytest.raises(UnsafePath, match="not a directory"):
        make_private_dir(tmp_path / "link")


async def test_a_symlink_planted_where_a_lease_goes_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("untouched")
    run_dir = tmp_path / "run"
    async with SafetyNet(run_dir, renew_every_s=0.2, deadline_s=2) as net:
        leases = run_dir / "leases"
        planted = leases / "0001-exp.json"
        planted.symlink_to(target)
        # and the temporary name the write goes through, for good measure
        (leases / f".0001-exp.json.{os.getpid()}.tmp").symlink_to(target)
        lease = net.lease("exp", "forged", [])
        assert lease.path == planted
        assert not planted.is_symlink()  # replaced by a real file, not written through
        assert planted.stat().st_mode & 0o777 == 0o600
        lease.release()
    assert target.read_text() == "untouched"


def test_cwb_run_refuses_a_precreated_run_directory_others_can_write(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        "service: s\ntraffic: {url: 'http://127.0.0.1:1/'}\n"
        "experiments:\n  - {name: x, fault: {type: disk_fill, path: /tmp, size_mb: 1}}\n"
        "blast_radius: {paths: [/tmp]}\n"
    )
    run_dir = tmp_path / "shared-run"
    run_dir.mkdir()
    os.chmod(run_dir, 0o777)  # as someone may have made it first, under /tmp
    result = subprocess.run(
        [sys.executable, "-m", "chaos_workbench.cli", "run", str(suite), "--run-dir", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert (
        f"the run directory cannot be used: {run_dir}: refused: the directory is writable by "
        "group or others (mode 0777)"
    ) in result.stderr
    assert list(run_dir.iterdir()) == []  # nothing written into it


def test_cwb_cleanup_finds_the_copies_of_a_parallel_run(tmp_path: Path) -> None:
    """A parallel run keeps a safety net per copy (``control``, ``copies/NN-name``); after a
    crash of everything, ``cwb cleanup`` on the runs root reverts their leases too."""
    root = make_private_dir(tmp_path / "runs")
    run = make_private_dir(root / "20261203-120000-shop-abcd")
    make_private_dir(run / "copies")
    leftovers = []
    for copy in (run / "control", run / "copies" / "01-kill-db"):
        make_private_dir(copy)
        leftover = copy / "fill.bin"  # a file a disk_fill fault left in the copy's directory
        leftover.write_bytes(b"x" * 1024)
        dead_run(copy, [DeletePath(path=str(leftover))], RevertPolicy())
        leftovers.append(leftover)
    result = CliRunner().invoke(app, ["cleanup", "--root", str(root)])
    assert result.exit_code == 0, result.output
    assert [p.exists() for p in leftovers] == [False, False]
    assert "01-kill-db" in result.output
