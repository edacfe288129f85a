"""Carry out revert actions from outside the controller: the watchdog's and cleanup's hands.

Every action is idempotent (a thawed group thaws again harmlessly, a deleted file is
already gone, a running process is not started twice) and :func:`execute` never raises: it
reports what it did, so one failing action does not stop the others. The code is blocking
on purpose: the watchdog is a plain loop, and async callers use :func:`execute_async`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from chaos_workbench.host import cgroups as cg
from chaos_workbench.host import started
from chaos_workbench.host.spawn import (
    TAG_ENV,
    process_running,
    read_pid_file,
    wait_port,
    wrap_in_cgroups,
    write_pid_file,
)
from chaos_workbench.safety.actions import (
    DeleteCustomResource,
    DeletePath,
    KillProcess,
    KillTagged,
    RemoveCgroup,
    RemoveToxic,
    RevertAction,
    SetProxyEnabled,
    SignalProcess,
    StartProcess,
    ThawCgroup,
)
from chaos_workbench.safety.leases import same_process

__all__ = ["Outcome", "execute", "execute_all", "execute_async", "kill_tagged"]

_HTTP_TIMEOUT_S = 3.0
# setsid(1) does not fork when its caller is not a group leader (true for a background job
# of a non-interactive shell), so $! is the pid of the real process in its own session.
_DETACH = 'setsid "$@" </dev/null >>"$CWB_LOG" 2>&1 & echo $!'


@dataclass(frozen=True)
class Outcome:
    """What one action did: ``ok`` false means the residue may still be there."""

    action: RevertAction
    ok: bool
    detail: str


def execute(action: RevertAction) -> Outcome:
    """Carry out one action; never raises."""
    try:
        detail = _dispatch(action)
    except Exception as exc:  # one broken action must not stop the rest of a revert
        return Outcome(action, False, f"{type(exc).__name__}: {exc}")
    return Outcome(action, True, detail)


def execute_all(actions: Sequence[RevertAction]) -> list[Outcome]:
    """Carry out actions in order (faults list them in the order that undoes them safely)."""
    return [execute(action) for action in actions]


async def execute_async(actions: Sequence[RevertAction]) -> list[Outcome]:
    return await asyncio.to_thread(execute_all, actions)


def _dispatch(action: RevertAction) -> str:
    match action:
        case RemoveToxic():
            return _remove_toxic(action)
        case SetProxyEnabled():
            url = f"{action.api_url.rstrip('/')}/proxies/{action.proxy}"
            response = httpx.post(url, json={"enabled": action.enabled}, timeout=_HTTP_TIMEOUT_S)
            response.raise_for_status()
            return f"proxy {action.proxy} enabled={action.enabled}"
        case SignalProcess():
            return _signal_process(action)
        case KillProcess():
            return _kill_process(action)
        case KillTagged():
            killed = kill_tagged(action.tag)
            return (
                f"killed {len(killed)} tagged process(es) {killed}"
                if killed
                else "no tagged process"
            )
        case DeletePath():
            return _delete_path(Path(action.path))
        case RemoveCgroup():
            group = cg.at(action.path)
            existed = group.path.exists()
            cg.remove(group)
            return (
                f"removed cgroup {action.path}" if existed else f"cgroup {action.path} already gone"
            )
        case ThawCgroup():
            cg.thaw(cg.Cgroup(Path(action.path), action.version))
            return f"thawed {action.path}"
        case StartProcess():
            return _start_process(action)
        case DeleteCustomResource():
            return _delete_custom_resource(action)
    raise ValueError(f"unknown action {action!r}")


def _delete_custom_resource(action: DeleteCustomResource) -> str:
    from chaos_workbench import kube  # the kubernetes client loads only when a lease needs it

    api = kube.connect(context=action.context, kubeconfig=action.kubeconfig)
    resources = kube.ChaosResources(api)
    ref = kube.ResourceRef(plural=action.plural, namespace=action.namespace, name=action.name)
    return kube.delete_resource(resources, ref, run_id=action.run_id, timeout_s=action.timeout_s)


def _remove_toxic(action: RemoveToxic) -> str:
    url = f"{action.api_url.rstrip('/')}/proxies/{action.proxy}/toxics/{action.toxic}"
    response = httpx.delete(url, timeout=_HTTP_TIMEOUT_S)
    if response.status_code == 404:
        return f"toxic {action.toxic} on {action.proxy} already gone"
    response.raise_for_status()
    return f"removed toxic {action.toxic} on {action.proxy}"


def _signal_process(action: SignalProcess) -> str:
    if not same_process(action.pid, action.create_time):
        return f"pid {action.pid} is gone (or reused): nothing to signal"
    targets = [psutil.Process(action.pid)]
    if action.include_children:
        with contextlib.suppress(psutil.Error):
            targets += targets[0].children(recursive=True)
    for proc in targets:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(action.signal)
    name = signal.Signals(action.signal).name
    return f"sent {name} to pid {action.pid} and {len(targets) - 1} child(ren)"


def _kill_process(action: KillProcess) -> str:
    if not same_process(action.pid, action.create_time):
        return f"pid {action.pid} already gone"
    if action.process_group and os.getpgid(action.pid) == action.pid:
        os.killpg(action.pid, signal.SIGKILL)
    else:
        os.kill(action.pid, signal.SIGKILL)
    return f"killed pid {action.pid}"


def kill_tagged(tag: str, *, timeout_s: float = 3.0) -> list[int]:
    """SIGKILL every process tagged ``tag`` (and its group), then wait until none is left."""
    killed: list[int] = []
    deadline = time.monotonic() + timeout_s
    while True:
        found = [p for p in psutil.process_iter() if _tagged(p, tag)]
        if not found:
            return killed
        for proc in found:
            with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
                if os.getpgid(proc.pid) == proc.pid:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.kill()
                if proc.pid not in killed:
                    killed.append(proc.pid)
        psutil.wait_procs(found, timeout=0.2)
        if time.monotonic() > deadline:
            raise RuntimeError(f"tagged processes {killed} survive SIGKILL")


def _tagged(proc: psutil.Process, tag: str) -> bool:
    if proc.pid == os.getpid():
        return False
    try:
        return proc.environ().get(TAG_ENV) == tag and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _delete_path(path: Path) -> str:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=False)
        return f"deleted directory {path}"
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return f"{path} already gone"
    return f"deleted {path} ({size / 1e6:.1f} MB)"


def _start_process(action: StartProcess) -> str:
    if action.pid_file is not None:
        pid = read_pid_file(action.pid_file)
        if pid is not None and process_running(pid):
            return f"process {action.name} already running (pid {pid})"
        if pid is not None:  # its leader is dead: clear children left in its group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
    env = {**os.environ, **action.env}
    argv = wrap_in_cgroups(action.command, [d for d in action.cgroups if Path(d).is_dir()], env)
    log_path = Path(action.log_path) if action.log_path else Path(os.devnull)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env["CWB_LOG"] = str(log_path)
    # Started through a shell that backgrounds it and exits: the process is reparented to
    # init (it must outlive whoever runs this action) and nobody is left owing a wait().
    launcher = subprocess.run(
        ["/bin/sh", "-c", _DETACH, "cwb-start", *argv],
        cwd=action.cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    pid = int(launcher.stdout.strip())
    if action.pid_file is not None:
        write_pid_file(action.pid_file, pid)
    try:
        return _wait_started(action, pid)
    finally:
        if action.started_dir is not None:  # stopped with the run, as the one it replaces
            thing = started.process_record(action.name, pid, cgroups=action.cgroups)
            if thing is not None:
                started.record(Path(action.started_dir).parent, thing)


def _wait_started(action: StartProcess, pid: int) -> str:
    deadline = time.monotonic() + action.ready_timeout_s
    if action.ready_port is not None and not wait_port(
        action.ready_host, action.ready_port, action.ready_timeout_s
    ):
        return (
            f"started {action.name} (pid {pid}) but port {action.ready_port} not "
            f"ready within {action.ready_timeout_s} s"
        )
    if action.ready_http is not None and not _wait_http(
        action.ready_http, action.ready_status, deadline
    ):
        return (
            f"started {action.name} (pid {pid}) but GET {action.ready_http} did not answer "
            f"{'/'.join(map(str, action.ready_status))} within {action.ready_timeout_s} s"
        )
    return f"started {action.name} (pid {pid})"


def _wait_http(url: str, statuses: tuple[int, ...], deadline: float) -> bool:
    """Poll ``url`` until it answers one of ``statuses`` or ``deadline`` (monotonic) passes."""
    with httpx.Client(verify=False, timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            try:
                if client.get(url).status_code in statuses:
                    return True
            except httpx.HTTPError:
                pass
            time.sleep(0.05)  # a restart takes at least this long; polls stay cheap
    return False
