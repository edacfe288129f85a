"""process_kill, process_pause, process_restart and the blast radius, on real processes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import psutil
import pytest

from chaos_workbench.faults import FaultContext, FaultError, FaultRefused
from chaos_workbench.faults.process_kill import ProcessKill, ProcessKillParams
from chaos_workbench.faults.process_pause import ProcessPause, ProcessPauseParams
from chaos_workbench.faults.process_restart import ProcessRestart, ProcessRestartParams
from chaos_workbench.host import cgroups as cg
from chaos_workbench.host.spawn import port_open
from chaos_workbench.processes import Supervisor
from chaos_workbench.processes.spec import ProcessSpec, ReadinessSpec
from chaos_workbench.safety.actions import SignalProcess, StartProcess, ThawCgroup

Until = Callable[..., Awaitable[None]]
MakeCtx = Callable[..., FaultContext]


@pytest.fixture
async def server(
    run_dir: Path, free_port: Callable[[], int], server_command: Callable[..., tuple[str, ...]]
) -> AsyncIterator[tuple[Supervisor, int]]:
    port = free_port()
    spec = ProcessSpec(
        name="srv", command=server_command(port), ready=ReadinessSpec(port=port, timeout_s=20)
    )
    async with Supervisor([spec], run_dir=run_dir) as sup:
        yield sup, port


@pytest.fixture
async def counter(
    run_dir: Path, counter_command: Callable[[Path], tuple[str, ...]]
) -> AsyncIterator[tuple[Supervisor, Path]]:
    out = run_dir / "count.txt"
    spec = ProcessSpec(
        name="counter", command=counter_command(out), ready=ReadinessSpec(log_line="counting")
    )
    async with Supervisor([spec], run_dir=run_dir) as sup:
        yield sup, out


def _lines(path: Path) -> int:
    return path.read_text().count("\n")


async def test_kill_then_revert_restarts_and_waits_for_readiness(
    server: tuple[Supervisor, int], make_ctx: MakeCtx, wait_until: Until
) -> None:
    sup, port = server
    before = sup.pid("srv")
    fault = ProcessKill(ProcessKillParams(process="srv"), make_ctx(sup))
    fault.preflight()
    (action,) = fault.revert_actions()
    assert isinstance(action, StartProcess)
    assert action.ready_port == port
    await fault.apply()
    assert sup.pid("srv") is None
    await wait_until(lambda: not port_open("127.0.0.1", port))
    await fault.revert()
    after = sup.pid("srv")
    assert after is not None
    assert after != before
    assert port_open("127.0.0.1", port)  # revert returned only once it was ready
    await fault.revert()  # idempotent: no second restart
    assert sup.pid("srv") == after


async def test_kill_with_sigstop_is_reverted_with_sigcont(
    counter: tuple[Supervisor, Path], make_ctx: MakeCtx, wait_until: Until
) -> None:
    sup, _ = counter
    pid = sup.pid("counter")
    assert pid is not None
    fault = ProcessKill(ProcessKillParams(process="counter", signal="STOP"), make_ctx(sup))
    (action,) = fault.revert_actions()
    assert isinstance(action, SignalProcess)
    assert action.signal == signal.SIGCONT
    await fault.apply()
    await wait_until(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED)
    await fault.revert()
    await wait_until(lambda: psutil.Process(pid).status() != psutil.STATUS_STOPPED)
    assert sup.pid("counter") == pid  # continued, not restarted


@pytest.mark.parametrize("method", ["freezer", "signal"])
async def test_pause_stops_progress_and_thaw_resumes_it(
    counter: tuple[Supervisor, Path], make_ctx: MakeCtx, wait_until: Until, method: str
) -> None:
    sup, out = counter
    if method == "freezer" and "freezer" not in sup.cgroup_paths("counter"):
        pytest.skip("this machine gives the supervisor no freezer cgroup (cgroup v1/v2)")
    await wait_until(lambda: _lines(out) > 3)
    fault = ProcessPause(ProcessPauseParams(process="counter", method=method), make_ctx(sup))
    fault.preflight()
    kinds = {type(a) for a in fault.revert_actions()}
    assert SignalProcess in kinds
    assert (ThawCgroup in kinds) == (method == "freezer")
    await fault.apply()
    frozen_at = _lines(out)
    # ten counting periods (20 ms each) without a single new line: it is really stopped
    await _sleep(0.2)
    assert _lines(out) == frozen_at
    await fault.revert()
    await wait_until(lambda: _lines(out) > frozen_at + 3)
    await fault.revert()  # idempotent
    assert sup.pid("counter") is not None


def test_cgroup_v2_freezer_stops_and_thaws(tmp_path: Path) -> None:
    """The v2 freezer (cgroup.freeze), on the unified hierarchy where it is mounted."""
    try:
        group = cg.create("freezer", f"cwb-test-{os.getpid()}", version=2)
    except cg.CgroupUnavailable as exc:
        pytest.skip(f"no writable cgroup v2 hierarchy here: {exc}")
    out = tmp_path / "n"
    proc = psutil.Popen(
        [
            "/bin/sh",
            "-c",
            f"echo $$ > {group.path}/cgroup.procs; i=0; while [ $i -lt 100000 ]; do i=$((i+1)); echo $i >> {out}; sleep 0.02; done",
        ]
    )
    try:
        _poll(lambda: out.exists() and _lines(out) > 3)
        cg.freeze(group)
        at = _lines(out)
        _sleep_sync(0.2)
        assert _lines(out) == at
        cg.thaw(group)
        _poll(lambda: _lines(out) > at + 3)
    finally:
        cg.remove(group)
        proc.wait(5)
    assert not group.path.exists()


async def test_restart_measures_time_to_ready(
    run_dir: Path,
    free_port: Callable[[], int],
    server_command: Callable[..., tuple[str, ...]],
    make_ctx: MakeCtx,
) -> None:
    port = free_port()
    spec = ProcessSpec(
        name="slow", command=server_command(port, 0.3), ready=ReadinessSpec(port=port)
    )
    async with Supervisor([spec], run_dir=run_dir) as sup:
        before = sup.pid("slow")
        fault = ProcessRestart(ProcessRestartParams(process="slow", grace_s=1), make_ctx(sup))
        fault.preflight()
        await fault.apply()
        assert sup.pid("slow") not in (None, before)
        assert fault.restart_ms is not None
        assert fault.restart_ms >= 250  # the child sleeps 0.3 s before it listens
        assert "ready after" in fault.describe()
        after = sup.pid("slow")
        await fault.revert()
        assert sup.pid("slow") == after  # revert only ensures it runs


async def test_blast_radius_refuses_before_anything_is_applied(
    server: tuple[Supervisor, int], make_ctx: MakeCtx
) -> None:
    sup, _ = server
    # A token of its own: a pattern must match this test's outsider only, never a process
    # of a test running beside it.
    token = f"cwb-outsider-{secrets.token_hex(4)}"
    outsider = _detached(f"import time; time.sleep(30)  # {token}")
    try:
        cases: list[tuple[ProcessKillParams, tuple[str, ...], str]] = [
            (ProcessKillParams(pid=1), (".*",), "PID 1"),
            (ProcessKillParams(pid=os.getpid()), (".*",), "workbench itself"),
            (ProcessKillParams(pid=os.getppid()), (".*",), "workbench itself"),
            (ProcessKillParams(pid=outsider.pid), (), r"blast_radius\.process_patterns"),
            (ProcessKillParams(pid=outsider.pid), ("postgres",), "outside the blast radius"),
            (ProcessKillParams(pattern=token), ("nomatch",), "outside the blast radius"),
        ]
        for params, patterns, message in cases:
            fault = ProcessKill(params, make_ctx(sup, patterns=patterns))
            with pytest.raises(FaultRefused, match=message):
                fault.preflight()
            with pytest.raises(FaultRefused, match=message):
                await fault.apply()  # checked again at apply, still before any signal
        assert outsider.status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_STOPPED)
        # allowed by pattern: the same outsider may now be killed (not restarted: unsupervised)
        fault = ProcessKill(ProcessKillParams(pattern=token), make_ctx(sup, (r"sleep",)))
        fault.preflight()
        assert fault.revert_actions() == []
        await fault.apply()
        outsider.wait(5)  # reaped by init: gone is what matters
    finally:
        _kill(outsider)


async def _sleep(seconds: float) -> None:
    """An observation window (nothing may change during it), not a synchronisation."""
    await asyncio.sleep(seconds)


def _sleep_sync(seconds: float) -> None:
    time.sleep(seconds)


def _poll(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


async def test_pause_with_the_v2_freezer_of_a_supervised_process(
    run_dir: Path,
    counter_command: Callable[[Path], tuple[str, ...]],
    make_ctx: MakeCtx,
    wait_until: Until,
) -> None:
    out = run_dir / "count.txt"
    spec = ProcessSpec(
        name="counter", command=counter_command(out), ready=ReadinessSpec(log_line="counting")
    )
    async with Supervisor([spec], run_dir=run_dir, cgroup_version=2) as sup:
        group = sup.cgroup_paths("counter").get("freezer")
        if group is None:
            pytest.skip("no writable cgroup v2 hierarchy on this machine")
        assert group.version == 2
        await wait_until(lambda: _lines(out) > 3)
        fault = ProcessPause(ProcessPauseParams(process="counter"), make_ctx(sup))
        await fault.apply()
        assert "frozen 1" in (group.path / "cgroup.events").read_text()
        at = _lines(out)
        await _sleep(0.2)
        assert _lines(out) == at
        await fault.revert()
        await wait_until(lambda: _lines(out) > at + 3)
    assert not group.path.exists()


async def test_pid_file_target_needs_the_allow_list(
    run_dir: Path, make_ctx: MakeCtx, wait_until: Until
) -> None:
    outsider = _detached("import time; time.sleep(30)  # cwb-target")
    try:
        pid_file = run_dir / "outsider.pid"
        pid_file.write_text(f"{outsider.pid}\n")
        params = ProcessKillParams(pid_file=str(pid_file), signal="TERM")
        with pytest.raises(FaultRefused, match="outside the blast radius"):
            await ProcessKill(params, make_ctx(patterns=("postgres",))).apply()
        assert outsider.is_running()
        fault = ProcessKill(params, make_ctx(patterns=("cwb-target",)))
        fault.preflight()
        await fault.apply()
        outsider.wait(5)
        missing = ProcessKill(ProcessKillParams(pid_file=str(run_dir / "nope.pid")), make_ctx())
        with pytest.raises(FaultError, match="cannot read a pid"):
            await missing.apply()
    finally:
        _kill(outsider)


async def test_the_workbenchs_own_helpers_are_never_targets(
    server: tuple[Supervisor, int], make_ctx: MakeCtx
) -> None:
    from chaos_workbench.faults.cpu_pressure import CpuPressure, CpuPressureParams

    sup, _ = server
    hog = CpuPressure(CpuPressureParams(workers=1, load_pct=5), make_ctx(sup))
    await hog.apply()
    try:
        # allow-listed by a catch-all pattern, matched by pattern: still refused
        fault = ProcessKill(ProcessKillParams(pattern=r"_hog\.py"), make_ctx(sup, (".*",)))
        with pytest.raises(FaultRefused, match="its helpers"):
            await fault.apply()
        # the supervised server (a child of the controller too) stays a valid target
        ProcessKill(ProcessKillParams(pattern="listening"), make_ctx(sup, (".*",))).preflight()
    finally:
        await hog.revert()


def _detached(code: str) -> psutil.Process:
    """A Python process that is not a descendant of this test (like a foreign process)."""
    launcher = subprocess.run(
        [
            "/bin/sh",
            "-c",
            'setsid "$@" >/dev/null 2>&1 </dev/null & echo $!',
            "sh",
            sys.executable,
            "-c",
            code,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    proc = psutil.Process(int(launcher.stdout))
    # The pid runs sh, then setsid, then Python (by exec): return once it is Python.
    deadline = time.monotonic() + 10
    while code not in " ".join(proc.cmdline()):
        assert time.monotonic() < deadline, "the detached process never started"
        time.sleep(0.01)
    return proc


def _kill(proc: psutil.Process) -> None:
    with contextlib.suppress(psutil.Error):
        proc.kill()
        proc.wait(5)


def test_a_kernel_thread_is_never_a_target(make_ctx: MakeCtx) -> None:
    from chaos_workbench.faults._targets import _is_kernel_thread

    kthreads = [p.pid for p in psutil.process_iter() if p.pid != 1 and _is_kernel_thread(p.pid)]
    if not kthreads:
        pytest.skip("no kernel thread is visible from this PID namespace")
    params = ProcessKillParams(pid=kthreads[-1], signal="TERM")  # not kthreadd itself
    with pytest.raises(FaultRefused, match="is a kernel thread"):
        ProcessKill(params, make_ctx(patterns=(".*",))).preflight()
    assert not _is_kernel_thread(os.getpid())
