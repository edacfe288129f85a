"""Which process a process fault acts on, and whether the suite allows it (blast radius).

A target is given by exactly one of: a supervised ``process`` name, a ``pid``, a
``pid_file``, a command-line ``pattern`` (a regular expression searched in the command
line; it may match several processes), or ``select``: a selector asked at injection time
which declared process to act on (``_select.py``; :func:`choose_target` turns it into a
``process`` target in the fault's ``prepare``). Whatever the way, every resolved process is checked:

* never PID 1, a kernel thread, the controller, its ancestors, or ``ctx.protected_pids``;
* a supervised process is always allowed (the suite declared it);
* anything else must match one of the suite's ``blast_radius.process_patterns``.

The check runs in ``preflight`` (before the run) and again right before ``apply`` (a pid
may have changed hands since), and a refusal is raised before anything is touched.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

import psutil
from pydantic import Field, model_validator

from chaos_workbench.faults._select import ProcessSelector, process_ports, run_selector
from chaos_workbench.faults.base import (
    FaultContext,
    FaultError,
    FaultParams,
    FaultRefused,
    ProcessControl,
    Reference,
)
from chaos_workbench.host import cgroups as cg
from chaos_workbench.host.names import OsText
from chaos_workbench.host.units import Pid

__all__ = [
    "SupervisorLike",
    "Target",
    "TargetParams",
    "check_allowed",
    "check_path_allowed",
    "choose_target",
    "describe_target",
    "parse_signal",
    "preflight_targets",
    "require_supervisor",
    "resolve",
]


@runtime_checkable
class SupervisorLike(ProcessControl, Protocol):
    """What process faults use beyond ``ProcessControl`` (our ``Supervisor`` has it all)."""

    @property
    def names(self) -> tuple[str, ...]: ...

    def is_supervised(self, name: str) -> bool: ...

    def cgroup_paths(self, name: str) -> Mapping[str, cg.Cgroup]: ...

    def last_ready_ms(self, name: str) -> float | None: ...

    async def stop(self, name: str, grace_s: float = 5.0) -> None: ...

    async def start(self, name: str, *, extra_env: Mapping[str, str] | None = None) -> None: ...


if TYPE_CHECKING:
    from chaos_workbench.processes.supervisor import Supervisor

    def _conforms(supervisor: Supervisor) -> SupervisorLike:
        """Never called: mypy checks here that the supervisor has everything faults use."""
        return supervisor


def parse_signal(value: object) -> str:
    """``9``, ``"KILL"`` or ``"SIGKILL"`` → ``"SIGKILL"``; ValueError names the bad value."""
    try:
        if isinstance(value, int) and not isinstance(value, bool):
            return signal.Signals(value).name
        if isinstance(value, str):
            name = value.upper()
            return signal.Signals[name if name.startswith("SIG") else f"SIG{name}"].name
    except (KeyError, ValueError):
        pass
    raise ValueError(f"unknown signal {value!r} (e.g. SIGKILL, SIGTERM, 9)")


def require_supervisor(ctx: FaultContext) -> SupervisorLike:
    processes = ctx.require_processes()
    if not isinstance(processes, SupervisorLike):
        raise FaultError("this fault needs the workbench's supervisor (stop/start/cgroups)")
    return processes


class TargetParams(FaultParams):
    """Fields shared by faults that act on a process."""

    process: str | None = Field(default=None, description="Name of a process the suite declares.")
    pid: Pid | None = None
    pid_file: OsText | None = None
    pattern: str | None = Field(
        default=None, description="Regular expression searched in command lines."
    )
    select: ProcessSelector | None = Field(
        default=None, description="Ask the system which declared process, when applied."
    )

    @model_validator(mode="after")
    def _one_target(self) -> TargetParams:
        given = [f for f in ("process", "pid", "pid_file", "pattern", "select") if getattr(self, f)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one target: process, pid, pid_file, pattern or select"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            # a{99999999999} raises OverflowError, thousands of nested groups RecursionError
            except (re.error, OverflowError, RecursionError) as exc:
                raise ValueError(f"pattern is not a valid regular expression: {exc}") from None
        return self

    def references(self) -> Sequence[Reference]:
        if self.select is not None:
            return self.select.references("select")
        if self.process is None:
            return ()
        return (Reference(kind="process", field="process", name=self.process),)

    def target_text(self) -> str:
        if self.select is not None:
            return self.select.describe()
        if self.process:
            return self.process
        if self.pid:
            return f"pid {self.pid}"
        if self.pid_file:
            return f"pid file {self.pid_file}"
        return f"/{self.pattern}/"


TP = TypeVar("TP", bound=FaultParams)


async def choose_target(params: TP, ctx: FaultContext) -> tuple[TP, ProcessSelector | None]:
    """Ask ``params.select`` which declared process to act on, now.

    Returns the parameters with that process as a plain ``process`` target (so the rest of
    the fault — blast radius, revert actions, the lease — works as for a named process) and
    the selector that chose it; parameters without ``select`` come back unchanged.
    FaultError when the answer names no declared process (nothing is injected).
    """
    selector = getattr(params, "select", None)
    if not isinstance(selector, ProcessSelector):
        return params, None
    name = await run_selector(selector, process_ports(ctx))
    return params.model_copy(update={"select": None, "process": name}), selector


def describe_target(target: str, selector: ProcessSelector | None) -> str:
    """``valkey2 (chosen by `valkey-cli ...`)`` once chosen; the target text otherwise."""
    if selector is None:
        return target
    return f"{target} (chosen by `{selector.source()}`)"


@dataclass(frozen=True)
class Target:
    """One resolved process."""

    pid: int
    create_time: float
    cmdline: str
    name: str | None = None  # the supervised name, when it is one


_PF_KTHREAD = 0x00200000  # include/linux/sched.h: the task is a kernel thread


def _is_kernel_thread(pid: int) -> bool:
    """Kernel threads carry PF_KTHREAD in /proc/PID/stat's flags (field 9).

    An empty command line is not proof: a user process has one for a moment during exec,
    and a zombie has none at all.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
        return bool(int(fields[6]) & _PF_KTHREAD)
    except (OSError, IndexError, ValueError):
        return False


def _cmdline(proc: psutil.Process) -> str:
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def _target(pid: int, name: str | None = None) -> Target | None:
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return Target(pid, proc.create_time(), _cmdline(proc), name)
    except psutil.Error:
        return None


def _supervised_pids(ctx: FaultContext) -> dict[int, str]:
    processes = ctx.processes
    if not isinstance(processes, SupervisorLike):
        return {}
    found = {}
    for name in processes.names:
        pid = processes.pid(name)
        if pid is not None:
            found[pid] = name
    return found


def resolve(params: TargetParams, ctx: FaultContext) -> list[Target]:
    """The processes the parameters point at now; FaultError when there is none."""
    if params.select is not None:
        raise FaultError(f"{params.target_text()} is chosen only when the fault is applied")
    supervised = _supervised_pids(ctx)
    found: list[Target] = []
    if params.process is not None:
        pid = ctx.require_processes().pid(params.process)
        target = _target(pid, params.process) if pid is not None else None
        if target is None:
            raise FaultError(f"process {params.process!r} is not running")
        return [target]
    if params.pid is not None:
        pids = [params.pid]
    elif params.pid_file is not None:
        try:
            pids = [int(Path(params.pid_file).read_text().strip())]
        except (OSError, ValueError) as exc:
            raise FaultError(f"cannot read a pid from {params.pid_file}: {exc}") from exc
    else:
        assert params.pattern is not None
        regex = re.compile(params.pattern)
        me = os.getpid()
        pids = [p.pid for p in psutil.process_iter() if p.pid != me and regex.search(_cmdline(p))]
    for pid in pids:
        target = _target(pid, supervised.get(pid))
        if target is not None:
            found.append(target)
    if not found:
        raise FaultError(f"no running process matches {params.target_text()}")
    return found


def _descendants(pid: int) -> set[int]:
    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        return set()


def _protected(ctx: FaultContext, supervised: Mapping[int, str]) -> set[int]:
    """PIDs no fault may touch: init, the controller, its parents, and its own helpers.

    The controller's helpers are its descendants that are not part of a supervised
    process's tree: the watchdog, hogs, an embedded proxy server, probes.
    """
    me = os.getpid()
    protected = {1, 2, me, *ctx.protected_pids}
    with contextlib.suppress(psutil.Error):
        protected.update(p.pid for p in psutil.Process(me).parents())
    system_under_test = set(supervised)
    for pid in supervised:
        system_under_test |= _descendants(pid)
    return protected | (_descendants(me) - system_under_test)


def check_allowed(targets: Sequence[Target], ctx: FaultContext) -> None:
    """Raise FaultRefused (before anything is done) if any target is outside the blast radius."""
    supervised = _supervised_pids(ctx)
    protected = _protected(ctx, supervised)
    patterns = [re.compile(p) for p in ctx.allowed_process_patterns]
    for target in targets:
        what = f"pid {target.pid} ({target.cmdline[:80] or target.name or 'no command line'})"
        if target.pid == 1:
            raise FaultRefused(f"refused: {what} is PID 1 (init); it is never a target")
        if target.pid in protected:
            raise FaultRefused(
                f"refused: {what} is the workbench itself, one of its parents or its helpers"
            )
        if _is_kernel_thread(target.pid):
            raise FaultRefused(f"refused: {what} is a kernel thread")
        if target.pid in supervised:
            continue
        if not any(p.search(target.cmdline) for p in patterns):
            raise FaultRefused(
                f"refused: {what} is outside the blast radius: it is not a supervised process "
                "and matches no pattern under blast_radius.process_patterns"
            )


def preflight_targets(params: TargetParams, ctx: FaultContext) -> None:
    """The static part of the check, for ``Fault.preflight``."""
    if params.pid == 1:
        raise FaultRefused("refused: PID 1 (init) is never a target")
    if params.select is not None:
        ctx.require_processes()  # chosen among the declared processes, when applied
        return
    if params.process is None and not ctx.allowed_process_patterns:
        raise FaultRefused(
            f"refused: target {params.target_text()} is not a supervised process and the suite "
            "lists no blast_radius.process_patterns that could allow it"
        )
    if params.process is None:
        try:
            targets = resolve(params, ctx)
        except FaultError:
            return  # not running yet: checked again right before apply
        check_allowed(targets, ctx)


def check_path_allowed(path: Path, ctx: FaultContext) -> Path:
    """The resolved ``path`` if it lies in the run directory or a ``blast_radius.paths`` entry."""
    resolved = path.expanduser().resolve()
    roots = [ctx.run_dir.resolve(), *(p.expanduser().resolve() for p in ctx.allowed_paths)]
    if not any(resolved.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise FaultRefused(
            f"refused: {resolved} is outside the blast radius (allowed: {allowed}); "
            "list it under blast_radius.paths"
        )
    return resolved
