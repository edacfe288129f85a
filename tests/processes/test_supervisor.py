"""The supervisor with real processes: readiness, restarts, stop, cgroups, no leftovers."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from chaos_workbench.host import cgroups as cg
from chaos_workbench.host.spawn import port_open
from chaos_workbench.processes import ProcessNotReady, Supervisor, SupervisorError, UnknownProcess
from chaos_workbench.processes.spec import ProcessSpec, ReadinessSpec
from chaos_workbench.safety.actions import StartProcess

ServerCmd = Callable[..., tuple[str, ...]]


def _spec(name: str, argv: tuple[str, ...], **ready: object) -> ProcessSpec:
    return ProcessSpec(name=name, command=argv, ready=ReadinessSpec.model_validate(ready))


async def test_start_waits_for_port_and_logs(
    run_dir: Path, free_port: Callable[[], int], server_command: ServerCmd
) -> None:
    port = free_port()
    spec = _spec("srv", server_command(port, 0.3), port=port, timeout_s=20)
    async with Supervisor([spec], run_dir=run_dir) as sup:
        pid = sup.pid("srv")
        assert pid is not None
        # ready means ready: the port accepts the moment start_all returns
        assert port_open("127.0.0.1", port)
        assert os.getpgid(pid) == pid  # own session and process group
        assert (run_dir / "pids" / "srv.pid").read_text().strip() == str(pid)
        assert "listening" in (run_dir / "logs" / "srv.log").read_text()
        assert sup.last_ready_ms("srv") is not None
        assert sup.last_ready_ms("srv") >= 250  # includes the child's 0.3 s delay
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not port_open("127.0.0.1", port)


async def test_restart_after_kill_and_log_line_readiness(
    run_dir: Path, free_port: Callable[[], int], server_command: ServerCmd
) -> None:
    port = free_port()
    spec = _spec("srv", server_command(port), log_line="listening", timeout_s=20)
    async with Supervisor([spec], run_dir=run_dir) as sup:
        first = sup.pid("srv")
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await _until(lambda: sup.pid("srv") is None)
        await sup.start("srv")
        second = sup.pid("srv")
        assert second is not None
        assert second != first
        # start() on a running process restarts it
        await sup.start("srv")
        third = sup.pid("srv")
        assert third not in (None, second)
        assert not psutil.pid_exists(second) or _zombie(second)


async def test_command_readiness_and_not_ready_timeout(run_dir: Path) -> None:
    flag = run_dir / "flag"
    sleeper = (sys.executable, "-c", "import time; time.sleep(60)")
    ok = _spec("ok", sleeper, command=("test", "-e", str(flag)), timeout_s=10)
    flag.touch()
    never = _spec("never", sleeper, command=("false",), timeout_s=0.5)
    sup = Supervisor([ok, never], run_dir=run_dir)
    try:
        with pytest.raises(ProcessNotReady, match=r"not ready within 0\.5 s"):
            await sup.start_all()
        assert sup.pid("ok") is not None
    finally:
        await sup.aclose()
    assert sup.pid("ok") is None
    assert sup.pid("never") is None


async def test_exit_during_start_is_reported_with_log(run_dir: Path) -> None:
    crash = (sys.executable, "-c", "import sys; print('boom: bad config'); sys.exit(3)")
    sup = Supervisor([_spec("crash", crash, port=1, timeout_s=10)], run_dir=run_dir)
    with pytest.raises(SupervisorError, match="boom: bad config"):
        await sup.start("crash")
    await sup.aclose()


async def test_stop_kills_whole_group_even_when_term_is_ignored(run_dir: Path) -> None:
    # The parent ignores SIGTERM and has a child: both must be gone after stop().
    script = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n"
    )
    sup = Supervisor(
        [_spec("stubborn", (sys.executable, "-c", script), log_line="up")], run_dir=run_dir
    )
    await sup.start_all()
    pid = sup.pid("stubborn")
    assert pid is not None
    await _until(lambda: len(psutil.Process(pid).children()) == 1)
    child = psutil.Process(pid).children()[0]
    await sup.stop("stubborn", grace_s=0.3)
    await _until(lambda: not child.is_running() or child.status() == psutil.STATUS_ZOMBIE)
    assert sup.pid("stubborn") is None
    await sup.aclose()


async def test_pid_file_processes_are_adopted_not_started(run_dir: Path) -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(60)")
    try:
        pid_file = run_dir / "ext.pid"
        pid_file.write_text(f"{proc.pid}\n")
        sup = Supervisor([ProcessSpec(name="ext", pid_file=str(pid_file))], run_dir=run_dir)
        await sup.start_all()
        assert sup.pid("ext") == proc.pid
        assert not sup.is_supervised("ext")
        with pytest.raises(SupervisorError, match="adopted"):
            await sup.start("ext")
        with pytest.raises(SupervisorError, match="adopted"):
            sup.launch_spec("ext")
        await sup.aclose()
        assert proc.returncode is None  # aclose never stops what it did not start
        with pytest.raises(UnknownProcess, match="declared: ext"):
            sup.pid("nope")
    finally:
        proc.kill()
        await proc.wait()


async def test_memory_limit_puts_process_in_a_limited_cgroup(run_dir: Path) -> None:
    spec = ProcessSpec(
        name="limited",
        command=(sys.executable, "-c", "print('up', flush=True); import time; time.sleep(60)"),
        ready=ReadinessSpec(log_line="up"),
        memory_limit_mb=64,
    )
    sup = Supervisor([spec], run_dir=run_dir)
    await sup.start_all()
    try:
        groups = sup.cgroup_paths("limited")
        if "memory" not in groups:
            pytest.skip(f"this machine allows no memory cgroup: {sup.notes}")
        pid = sup.pid("limited")
        assert pid is not None
        group = cg.of_process(pid, "memory")
        assert group is not None
        assert group.path == groups["memory"].path
        assert cg.memory_limit_bytes(group) == 64 * 1024 * 1024
        action = sup.launch_spec("limited")
        assert str(groups["memory"].path) in action.cgroups
    finally:
        await sup.aclose()
    assert not groups["memory"].path.exists()  # cgroups are removed with the supervisor


async def _until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def _zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_a_restart_by_the_watchdog_is_seen_through_the_pid_file(run_dir: Path) -> None:
    from chaos_workbench.safety.executor import execute

    sleeper = (sys.executable, "-c", "print('up', flush=True); import time; time.sleep(60)")
    sup = Supervisor([_spec("app", sleeper, log_line="up")], run_dir=run_dir)
    await sup.start_all()
    try:
        first = sup.pid("app")
        assert first is not None
        action = StartProcess.of(sup.launch_spec("app"))
        os.kill(first, signal.SIGKILL)
        await _until(lambda: sup.pid("app") is None)
        outcome = execute(action)  # what the watchdog does while the controller hangs
        assert outcome.ok, outcome.detail
        second = sup.pid("app")
        assert second not in (None, first)
        assert execute(action).detail.startswith("process app already running")  # idempotent
    finally:
        await sup.aclose()
    assert not psutil.pid_exists(second) or _zombie(second)


def test_cgroup_v2_memory_limit_where_the_controller_exists() -> None:
    try:
        group = cg.create(
            "memory", f"cwb-test-mem-{os.getpid()}", version=2, memory_limit_bytes=1 << 26
        )
    except cg.CgroupUnavailable as exc:
        pytest.skip(f"cgroup v2 memory controller not available on this machine: {exc}")
    try:
        assert group.version == 2
        assert cg.memory_limit_bytes(group) == 1 << 26
    finally:
        cg.remove(group)


async def test_a_memory_limit_the_machine_refuses_is_reported(run_dir: Path) -> None:
    try:
        probe = cg.create("memory", f"cwb-test-probe-{os.getpid()}", version=2)
    except cg.CgroupUnavailable:
        pass
    else:
        cg.remove(probe)
        pytest.skip("this machine has a cgroup v2 memory controller: nothing is refused")
    spec = ProcessSpec(
        name="app",
        command=(sys.executable, "-c", "print('up', flush=True); import time; time.sleep(60)"),
        ready=ReadinessSpec(log_line="up"),
        memory_limit_mb=64,
    )
    async with Supervisor([spec], run_dir=run_dir, cgroup_version=2) as sup:
        assert sup.pid("app") is not None  # runs, without the limit
        (note,) = sup.notes
        assert "memory_limit_mb=64 not applied" in note
        assert "'memory' controller" in note
    strict = Supervisor([spec], run_dir=run_dir, cgroup_version=2, require_limits=True)
    with pytest.raises(SupervisorError, match="memory_limit_mb=64 not applied"):
        await strict.start_all()
    await strict.aclose()
    assert strict.pid("app") is None


async def test_restart_after_a_crash_clears_the_old_instances_children(run_dir: Path) -> None:
    script = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print('up', flush=True)\n"
        "time.sleep(60)\n"
    )
    sup = Supervisor(
        [_spec("parent", (sys.executable, "-c", script), log_line="up")], run_dir=run_dir
    )
    await sup.start_all()
    try:
        pid = sup.pid("parent")
        assert pid is not None
        await _until(lambda: len(psutil.Process(pid).children()) == 1)
        orphan = psutil.Process(pid).children()[0]
        os.kill(pid, signal.SIGKILL)  # the parent crashes; its child lives on
        await _until(lambda: sup.pid("parent") is None)
        assert orphan.is_running()
        await sup.start("parent")
        await _until(lambda: not orphan.is_running() or orphan.status() == psutil.STATUS_ZOMBIE)
    finally:
        await sup.aclose()


READY_SERVER = Path(__file__).with_name("ready_server.py")


async def test_http_readiness_waits_for_the_status(
    run_dir: Path, free_port: Callable[[], int]
) -> None:
    """Ready means the URL answers 200: not when the port opens (it answers 503 first)."""
    port = free_port()
    argv = (sys.executable, str(READY_SERVER), str(port), "--warm-s", "0.8")
    spec = _spec("svc", argv, http=f"http://127.0.0.1:{port}/ready", timeout_s=20)
    async with Supervisor([spec], run_dir=run_dir) as sup:
        ready_ms = sup.last_ready_ms("svc")
        assert ready_ms is not None
        assert ready_ms >= 750  # the port was open long before; 503 is not ready
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/ready")).status_code == 200


async def test_http_readiness_accepts_the_listed_statuses(
    run_dir: Path, free_port: Callable[[], int]
) -> None:
    port = free_port()
    argv = (sys.executable, str(READY_SERVER), str(port), "--warm-s", "30")
    spec = _spec("svc", argv, http=f"http://127.0.0.1:{port}/ready", status=[503], timeout_s=20)
    async with Supervisor([spec], run_dir=run_dir) as sup:
        ready_ms = sup.last_ready_ms("svc")
        assert ready_ms is not None
        assert ready_ms < 10_000  # 503 was asked for: no need to wait out the 30 s warm-up


async def test_an_http_check_that_never_answers_is_not_ready_and_says_what_it_waited_for(
    run_dir: Path, free_port: Callable[[], int]
) -> None:
    port = free_port()
    argv = (sys.executable, str(READY_SERVER), str(port))
    url = f"http://127.0.0.1:{port}/hang"
    sup = Supervisor([_spec("svc", argv, http=url, timeout_s=2.5)], run_dir=run_dir)
    started = time.monotonic()
    try:
        with pytest.raises(ProcessNotReady, match=rf"GET {url} answering 200"):
            await sup.start_all()
    finally:
        await sup.aclose()
    # Each attempt is bounded (1 s): the start gives up at its timeout, not long after.
    assert 2.4 <= time.monotonic() - started <= 6.0


async def test_the_watchdog_restart_waits_for_http_readiness_too(
    run_dir: Path, free_port: Callable[[], int]
) -> None:
    from chaos_workbench.safety.executor import execute

    port = free_port()
    argv = (sys.executable, str(READY_SERVER), str(port), "--warm-s", "0.6")
    url = f"http://127.0.0.1:{port}/ready"
    sup = Supervisor([_spec("svc", argv, http=url, timeout_s=20)], run_dir=run_dir)
    await sup.start_all()
    try:
        action = StartProcess.of(sup.launch_spec("svc"))
        assert action.ready_http == url
        first = sup.pid("svc")
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await _until(lambda: sup.pid("svc") is None)
        started = time.monotonic()
        outcome = await asyncio.to_thread(execute, action)
        assert outcome.ok, outcome.detail
        assert outcome.detail.startswith("started svc")
        assert time.monotonic() - started >= 0.5  # it waited for 200, not just the port
        async with httpx.AsyncClient() as client:
            assert (await client.get(url)).status_code == 200
    finally:
        await sup.aclose()
