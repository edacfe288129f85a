"""The supervisor: starts the processes a suite declares, knows their pids, restarts them.

Each process with a ``command`` runs in its own session (so a signal to its process group
reaches its children, and a Ctrl-C at the terminal does not), logs to
``run_dir/logs/<name>.log``, and has its current pid in ``run_dir/pids/<name>.pid`` (the
watchdog's ``StartProcess`` writes the same file). Where the machine allows it, each one
gets its own freezer and CPU cgroup (so ``process_pause`` and ``cpu_pressure`` can act on
exactly it) and, with ``memory_limit_mb``, a memory cgroup with that limit. Processes
declared by ``pid_file`` are adopted: watched, never started or stopped.

Exceptions::

    SupervisorError (WorkbenchError)  a process could not be started, stopped or found
    ├── UnknownProcess                the suite declares no process by that name
    └── ProcessNotReady               it started but did not become ready in time
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from chaos_workbench.aio import AsyncResource
from chaos_workbench.errors import WorkbenchError
from chaos_workbench.host import cgroups as cg
from chaos_workbench.host import started
from chaos_workbench.host.names import safe_file_name
from chaos_workbench.host.spawn import (
    LaunchSpec,
    cgroup_prefix,
    process_running,
    read_pid_file,
    wrap_in_cgroups,
    write_pid_file,
)
from chaos_workbench.processes import readiness
from chaos_workbench.processes.spec import ProcessSpec

__all__ = ["ProcessNotReady", "Supervisor", "SupervisorError", "UnknownProcess"]

_POLL_S = 0.05  # readiness poll: fine enough for recovery-time figures, cheap on 2 cores


class SupervisorError(WorkbenchError):
    """A supervised process could not be started, stopped or found."""


class UnknownProcess(SupervisorError):
    """The suite declares no process by that name."""


class ProcessNotReady(SupervisorError):
    """The process started but did not become ready before its readiness timeout."""


@dataclass
class _Managed:
    spec: ProcessSpec
    process: asyncio.subprocess.Process | None = None
    cgroups: dict[str, cg.Cgroup] = field(default_factory=dict)
    cgroups_tried: bool = False
    last_ready_ms: float | None = None


class Supervisor(AsyncResource):
    """Starts, watches and stops the processes of one run; implements ``ProcessControl``."""

    def __init__(
        self,
        specs: Sequence[ProcessSpec],
        *,
        run_dir: Path,
        env: Mapping[str, str] | None = None,
        require_limits: bool = False,
        cgroup_version: int | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.env = dict(env or {})
        self.require_limits = require_limits
        self.cgroup_version = cgroup_version
        self.notes: list[str] = []  # what the machine did not allow, for the report
        self._procs = {spec.name: _Managed(spec) for spec in specs}
        self._cgroup_prefix = cgroup_prefix(run_dir)

    async def _on_enter(self) -> None:
        await self.start_all()

    # -- lookups ---------------------------------------------------------------------------

    def _get(self, name: str) -> _Managed:
        try:
            return self._procs[name]
        except KeyError:
            known = ", ".join(sorted(self._procs)) or "none"
            raise UnknownProcess(f"no process named {name!r} (declared: {known})") from None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._procs)

    def spec(self, name: str) -> ProcessSpec:
        return self._get(name).spec

    def log_path(self, name: str) -> Path:
        return self.run_dir / "logs" / f"{safe_file_name(name)}.log"

    def pid_file(self, name: str) -> Path:
        spec = self._get(name).spec
        if spec.pid_file:
            return Path(spec.pid_file)
        return self.run_dir / "pids" / f"{safe_file_name(name)}.pid"

    def pid(self, name: str) -> int | None:
        managed = self._get(name)
        process = managed.process
        if process is not None and process.returncode is None and process_running(process.pid):
            return process.pid
        if managed.spec.command is not None and process is None:
            return None  # never started by this supervisor
        # Adopted, or restarted by the watchdog while this controller hung: the pid file.
        pid = read_pid_file(self.pid_file(name))
        if pid is None or (process is not None and pid == process.pid):
            return None
        return pid if process_running(pid) else None

    def is_supervised(self, name: str) -> bool:
        """True when the workbench starts this process (it has a command)."""
        return self._get(name).spec.command is not None

    def cgroup_paths(self, name: str) -> Mapping[str, cg.Cgroup]:
        """The cgroups the supervisor made for this process, by controller."""
        return dict(self._get(name).cgroups)

    def last_ready_ms(self, name: str) -> float | None:
        """How long the last start took until ready, in milliseconds."""
        return self._get(name).last_ready_ms

    # -- starting --------------------------------------------------------------------------

    async def start_all(self) -> None:
        """Start every process with a command, in order; adopt the ones with a pid file."""
        for name, managed in self._procs.items():
            if managed.spec.command is not None:
                await self.start(name)
            elif self.pid(name) is None:
                raise SupervisorError(
                    f"process {name!r}: no running process in pid file {managed.spec.pid_file}"
                )

    def _ensure_cgroups(self, managed: _Managed) -> None:
        if managed.cgroups_tried:
            return
        managed.cgroups_tried = True
        name = f"{self._cgroup_prefix}-{safe_file_name(managed.spec.name)}"
        wanted: list[tuple[cg.Controller, int]] = [("freezer", 0), ("cpu", 0)]
        if managed.spec.memory_limit_mb:
            wanted.append(("memory", managed.spec.memory_limit_mb * 1024 * 1024))
        for controller, limit in wanted:
            try:
                group = cg.create(
                    controller, name, version=self.cgroup_version, memory_limit_bytes=limit
                )
            except cg.CgroupUnavailable as exc:
                if controller == "memory":
                    message = (
                        f"process {managed.spec.name!r}: memory_limit_mb="
                        f"{managed.spec.memory_limit_mb} not applied: {exc}"
                    )
                    if self.require_limits:
                        raise SupervisorError(message) from exc
                    self.notes.append(message)
                continue
            managed.cgroups[controller] = group

    def _environment(
        self, managed: _Managed, extra_env: Mapping[str, str] | None
    ) -> dict[str, str]:
        return {**os.environ, **self.env, **managed.spec.env, **(extra_env or {})}

    async def start(self, name: str, *, extra_env: Mapping[str, str] | None = None) -> None:
        """Start (or restart) a declared process and wait until it is ready."""
        managed = self._get(name)
        spec = managed.spec
        if spec.command is None:
            raise SupervisorError(
                f"process {name!r} is adopted from pid file {spec.pid_file}; the workbench "
                "cannot start it"
            )
        if self.pid(name) is not None:
            await self.stop(name)
        elif managed.process is not None:
            # The last instance died (a crash, a kill fault) and its children may linger in
            # its process group holding ports or shared memory: clear them first, as a
            # service manager does before a restart.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(managed.process.pid, signal.SIGKILL)
            await _reap(managed.process)
        self._write_files(spec)
        self._ensure_cgroups(managed)
        env = self._environment(managed, extra_env)
        argv = wrap_in_cgroups(spec.command, [g.path for g in managed.cgroups.values()], env)
        log = self.log_path(name)
        log.parent.mkdir(parents=True, exist_ok=True)
        log_offset = log.stat().st_size if log.exists() else 0
        started_ns = time.monotonic_ns()
        with _open_log(log) as log_handle:
            try:
                managed.process = await asyncio.create_subprocess_exec(
                    *argv,
                    cwd=spec.cwd,
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=log_handle,
                    stderr=log_handle,
                    start_new_session=True,
                )
            except OSError as exc:
                raise SupervisorError(f"process {name!r} could not start: {exc}") from exc
        write_pid_file(self.pid_file(name), managed.process.pid)
        self._record(managed, with_cmdline=False)  # at once: a crash may come during start-up
        await self._wait_ready(managed, log, log_offset)
        managed.last_ready_ms = (time.monotonic_ns() - started_ns) / 1e6
        self._record(managed, with_cmdline=True)  # ready: the wrapper has exec'd the command

    def _write_files(self, spec: ProcessSpec) -> None:
        """Write the process's ``files`` (its configuration) before it starts."""
        for number, item in enumerate(spec.files):
            if item.content is None:
                raise SupervisorError(
                    f"process {spec.name!r}: files[{number}].template {item.template} was not "
                    "rendered (templates are read by the suite loader: load the suite with "
                    "load_suite, or give 'content')"
                )
            path = Path(item.path)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                staging = path.with_name(f".{path.name}.tmp{os.getpid()}")
                staging.write_text(item.content, encoding="utf-8")
                staging.chmod(0o644)
                os.replace(staging, path)  # whole or absent, as the process reads it
            except OSError as exc:
                raise SupervisorError(
                    f"process {spec.name!r}: cannot write files[{number}] {path}: {exc}"
                ) from exc

    def _record(self, managed: _Managed, *, with_cmdline: bool) -> None:
        """Record the process in ``run_dir/started``, so a dead run's cleanup stops it too."""
        assert managed.process is not None
        cgroups = tuple(str(g.path) for g in managed.cgroups.values())
        thing = started.process_record(
            managed.spec.name, managed.process.pid, cgroups=cgroups, with_cmdline=with_cmdline
        )
        if thing is not None:
            started.record(self.run_dir, thing)

    async def _wait_ready(self, managed: _Managed, log: Path, log_offset: int) -> None:
        ready = managed.spec.ready
        process = managed.process
        assert process is not None
        deadline = time.monotonic() + ready.timeout_s
        while True:
            if process.returncode is not None or not process_running(process.pid):
                raise SupervisorError(
                    f"process {managed.spec.name!r} exited while starting "
                    f"(code {process.returncode}); log {log}:\n{readiness.tail(log)}"
                )
            if await readiness.check(ready, log, log_offset):
                return
            if time.monotonic() > deadline:
                raise ProcessNotReady(
                    f"process {managed.spec.name!r} not ready within {ready.timeout_s} s "
                    f"({readiness.describe(ready)}); log {log}:\n{readiness.tail(log)}"
                )
            await asyncio.sleep(_POLL_S)

    # -- stopping --------------------------------------------------------------------------

    async def stop(self, name: str, grace_s: float = 5.0) -> None:
        """SIGTERM the process group, SIGKILL it after ``grace_s``; stopped is fine."""
        managed = self._get(name)
        if managed.spec.command is None:
            raise SupervisorError(f"process {name!r} is adopted; the workbench does not stop it")
        pid = self.pid(name)
        if pid is None:
            started.forget(self.run_dir, name)
            return
        # A paused process cannot act on SIGTERM: thaw it first (no-op when not frozen).
        if "freezer" in managed.cgroups:
            await asyncio.to_thread(cg.thaw, managed.cgroups["freezer"])
        for sig in (signal.SIGTERM, signal.SIGCONT):
            _signal_group(pid, sig)
        gone = await self._wait_gone(managed, pid, grace_s)
        # Children that outlived their leader (or ignored SIGTERM) go with the group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        if not gone and not await self._wait_gone(managed, pid, 5.0):
            raise SupervisorError(f"process {name!r} (pid {pid}) survived SIGKILL")
        started.forget(self.run_dir, name)
        if managed.process is not None and managed.process.pid == pid:
            await _reap(managed.process)

    async def _wait_gone(self, managed: _Managed, pid: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while process_running(pid):  # a zombie counts as gone: the child watcher reaps it
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL_S)
        return True

    async def aclose(self) -> None:
        """Stop every process this supervisor started and remove its cgroups."""
        for name in reversed(list(self._procs)):
            managed = self._procs[name]
            if managed.spec.command is None:
                continue
            try:
                await self.stop(name, grace_s=2.0)
            except SupervisorError as exc:  # one stubborn process must not keep the rest
                self.notes.append(str(exc))
            for group in managed.cgroups.values():
                try:
                    await asyncio.to_thread(cg.remove, group)
                except (cg.CgroupUnavailable, OSError) as exc:
                    self.notes.append(f"process {name!r}: could not remove {group.path}: {exc}")
            managed.cgroups.clear()
            managed.cgroups_tried = False

    def launch_spec(self, name: str) -> LaunchSpec:
        """How another process (the watchdog) starts this one again, as the supervisor would."""
        managed = self._get(name)
        spec = managed.spec
        if spec.command is None:
            raise SupervisorError(f"process {name!r} is adopted; the workbench cannot restart it")
        self._ensure_cgroups(managed)
        return LaunchSpec(
            name=name,
            command=spec.command,
            cwd=spec.cwd,
            env={**self.env, **spec.env},
            pid_file=str(self.pid_file(name)),
            ready_port=spec.ready.port,
            ready_host=spec.ready.host,
            ready_http=spec.ready.http,
            ready_status=spec.ready.status,
            log_path=str(self.log_path(name)),
            cgroups=tuple(str(g.path) for g in managed.cgroups.values()),
            ready_timeout_s=spec.ready.timeout_s,
            started_dir=str(started.started_dir(self.run_dir)),
        )


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _open_log(path: Path) -> BinaryIO:
    return open(path, "ab")  # local file append: microseconds, fine on the loop


async def _reap(process: asyncio.subprocess.Process, timeout_s: float = 5.0) -> None:
    """Let asyncio collect an exited child, so its transport closes now.

    Dropping the handle of a child asyncio has not yet seen exit leaves an unclosed
    transport behind (a ResourceWarning when it is garbage-collected); on a loaded machine
    the child watcher can lag behind ``kill`` by several milliseconds.
    """
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), timeout_s)
