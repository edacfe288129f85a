"""``process_pause``: freeze a process and its children; thaw on revert.

A frozen process holds its sockets open but answers nothing: the "hung dependency" that is
harder on clients than a crash. Where the supervisor gave the process its own freezer
cgroup, the cgroup freezer is used (v1 ``freezer.state`` or v2 ``cgroup.freeze``): it is
atomic, catches children forked at any moment, and the process cannot notice it. Otherwise
every process of the tree gets SIGSTOP (children first, so none is left running by a race
with its parent) and SIGCONT on revert.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Sequence
from typing import Literal

import psutil
from pydantic import Field

from chaos_workbench.faults._select import ProcessSelector
from chaos_workbench.faults._targets import (
    SupervisorLike,
    Target,
    TargetParams,
    check_allowed,
    choose_target,
    describe_target,
    preflight_targets,
    resolve,
)
from chaos_workbench.faults.base import Fault, FaultError
from chaos_workbench.faults.registry import register
from chaos_workbench.host import cgroups as cg
from chaos_workbench.model import FaultType
from chaos_workbench.safety.actions import RevertAction, SignalProcess, ThawCgroup

__all__ = ["ProcessPause", "ProcessPauseParams"]


class ProcessPauseParams(TargetParams):
    """Which process to freeze, and how."""

    type: Literal["process_pause"] = "process_pause"
    method: Literal["auto", "freezer", "signal"] = Field(
        default="auto", description="auto: the cgroup freezer when available, else SIGSTOP."
    )


@register
class ProcessPause(Fault[ProcessPauseParams]):
    """Freeze a process tree (cgroup freezer or SIGSTOP); revert thaws it."""

    kind = "process_pause"
    fault_type = FaultType.PROCESS
    params_model = ProcessPauseParams

    _targets: list[Target] | None = None
    _freezer: cg.Cgroup | None = None
    _stopped: list[Target] | None = None
    _selector: ProcessSelector | None = None

    async def prepare(self) -> None:
        """With ``select``: choose the process now (before the lease), then check it."""
        if self.params.select is None:
            return
        self.params, self._selector = await choose_target(self.params, self.ctx)
        self.choice = self.params.process
        self._targets = None
        self.preflight()

    def preflight(self) -> None:
        preflight_targets(self.params, self.ctx)
        if self.params.select is not None:
            return  # the freezer is checked once the process is chosen
        if self.params.method == "freezer" and self._freezer_group() is None:
            raise FaultError(
                f"no freezer cgroup for {self.params.target_text()} (only supervised processes "
                "get one, where the machine allows it); use method: signal"
            )

    def _resolve(self) -> list[Target]:
        if self._targets is None:
            self._targets = resolve(self.params, self.ctx)
        return self._targets

    def _freezer_group(self) -> cg.Cgroup | None:
        processes = self.ctx.processes
        name = self.params.process
        if self.params.method == "signal" or name is None:
            return None
        if not isinstance(processes, SupervisorLike):
            return None
        return processes.cgroup_paths(name).get("freezer")

    async def apply(self) -> None:
        await self.prepare()
        # Resolved afresh: the pids seen by an earlier revert_actions() may be stale now.
        self._targets = targets = resolve(self.params, self.ctx)
        check_allowed(targets, self.ctx)
        group = self._freezer_group()
        if group is not None:
            self._freezer = group
            try:
                await asyncio.to_thread(cg.freeze, group)
            except cg.CgroupUnavailable as exc:  # the host's error, in the fault's terms
                raise FaultError(str(exc)) from exc
            return
        self._stopped = list(targets)
        procs = [p for t in targets for p in reversed(_tree(t.pid))]  # children first
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(signal.SIGSTOP)
        # Signal delivery is asynchronous: return only once the pause is in effect.
        for _ in range(200):  # bounded: 2 s
            if all(_stopped_or_gone(p) for p in procs):
                return
            await asyncio.sleep(0.01)
        raise FaultError(f"{self.params.target_text()} did not stop within 2 s of SIGSTOP")

    async def revert(self) -> None:
        if self._freezer is not None:
            await asyncio.to_thread(cg.thaw, self._freezer)
        for target in self._stopped or ():
            for proc in _tree(target.pid):
                with contextlib.suppress(psutil.Error):
                    proc.send_signal(signal.SIGCONT)

    def revert_actions(self) -> Sequence[RevertAction]:
        group = self._freezer_group()
        try:
            targets = self._resolve()
        except FaultError:
            targets = []
        actions: list[RevertAction] = []
        if group is not None:
            actions.append(ThawCgroup(path=str(group.path), version=group.version))
        # SIGCONT as well: harmless on a running process, and it covers the signal method.
        actions += [
            SignalProcess(
                pid=t.pid,
                create_time=t.create_time,
                signal=signal.SIGCONT,
                include_children=True,
                cmdline=t.cmdline,
            )
            for t in targets
        ]
        return actions

    def describe(self) -> str:
        return f"pause {describe_target(self.params.target_text(), self._selector)}"


def _tree(pid: int) -> list[psutil.Process]:
    """The process and all its descendants, parents before children."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _stopped_or_gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() in (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return True
