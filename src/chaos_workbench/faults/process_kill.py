"""``process_kill``: send a signal (default SIGKILL) to a process, as a crash would.

Revert brings a supervised process back: it is started again with its original command and
the revert waits until it is ready (port, command or log line), so recovery is measured
from a process that can serve. A stop signal (SIGSTOP, SIGTSTP, ...) is reverted with
SIGCONT. Processes that are not supervised (pid, pid file, pattern) cannot be restarted by
the workbench; for them the revert only continues stopped ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Sequence
from typing import Literal

from pydantic import Field, field_validator

from chaos_workbench.faults._select import ProcessSelector
from chaos_workbench.faults._targets import (
    Target,
    TargetParams,
    check_allowed,
    choose_target,
    describe_target,
    parse_signal,
    preflight_targets,
    resolve,
)
from chaos_workbench.faults.base import Fault, FaultError, FaultRefused
from chaos_workbench.faults.registry import register
from chaos_workbench.model import FaultType
from chaos_workbench.safety.actions import RevertAction, SignalProcess, StartProcess

__all__ = ["ProcessKill", "ProcessKillParams"]

_STOP_SIGNALS = {"SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU"}
_GONE_TIMEOUT_S = 10.0  # a SIGKILLed process is gone in milliseconds; this bounds the wait


class ProcessKillParams(TargetParams):
    """Which process, which signal, and whether revert restarts it."""

    type: Literal["process_kill"] = "process_kill"
    signal: str = Field(default="SIGKILL", description="Signal name or number.")
    group: bool = Field(default=False, description="Signal the whole process group.")
    restart: bool = Field(default=True, description="Revert restarts a supervised process.")

    @field_validator("signal", mode="before")
    @classmethod
    def _signal(cls, value: object) -> str:
        return parse_signal(value)


@register
class ProcessKill(Fault[ProcessKillParams]):
    """Signal a process; revert restarts it (supervised) or continues it (stop signals)."""

    kind = "process_kill"
    fault_type = FaultType.DEPENDENCY_DOWN
    params_model = ProcessKillParams

    _targets: list[Target] | None = None
    _applied = False
    _selector: ProcessSelector | None = None

    async def prepare(self) -> None:
        """With ``select``: choose the process now (before the lease), then check it."""
        if self.params.select is None:
            return
        self.params, self._selector = await choose_target(self.params, self.ctx)
        self.choice = self.params.process
        self._targets = None
        self.preflight()  # e.g. an adopted process chosen, and restart asked: refused

    def preflight(self) -> None:
        preflight_targets(self.params, self.ctx)
        name = self.params.process
        processes = self.ctx.processes
        if name and self._restarts and processes is not None:
            supervised = getattr(processes, "is_supervised", None)
            if supervised is not None and not supervised(name):
                raise FaultRefused(
                    f"process {name!r} is adopted from a pid file and cannot be restarted; "
                    "set restart: false to kill it anyway"
                )

    @property
    def _restarts(self) -> bool:
        return self.params.restart and self.params.signal not in _STOP_SIGNALS

    def _resolve(self) -> list[Target]:
        if self._targets is None:
            self._targets = resolve(self.params, self.ctx)
        return self._targets

    async def apply(self) -> None:
        await self.prepare()
        # Resolved afresh: the pids seen by an earlier revert_actions() may be stale now.
        self._targets = targets = resolve(self.params, self.ctx)
        check_allowed(targets, self.ctx)
        sig = signal.Signals[self.params.signal]
        self._applied = True
        for target in targets:
            try:
                if self.params.group:
                    os.killpg(os.getpgid(target.pid), sig)
                else:
                    os.kill(target.pid, sig)
            except ProcessLookupError:
                continue  # died on its own in between: the outcome is the same
            except PermissionError as exc:
                raise FaultError(f"cannot signal pid {target.pid}: {exc}") from exc
        if self._restarts and sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGINT):
            await self._wait_gone(targets)

    async def _wait_gone(self, targets: Sequence[Target]) -> None:
        processes = self.ctx.processes
        deadline = time.monotonic() + _GONE_TIMEOUT_S
        for target in targets:
            while target.name and processes and processes.pid(target.name) == target.pid:
                if time.monotonic() > deadline:
                    return  # still there: revert's start() stops it properly
                await asyncio.sleep(0.02)

    async def revert(self) -> None:
        if not self._applied or self._targets is None:
            return
        processes = self.ctx.processes
        for target in self._targets:
            if self.params.signal in _STOP_SIGNALS:
                _continue(target, group=self.params.group)
            elif (
                self._restarts
                and target.name
                and processes is not None
                and processes.pid(target.name) is None  # idempotent: never restart twice
            ):
                await processes.start(target.name)

    def revert_actions(self) -> Sequence[RevertAction]:
        try:
            targets = self._resolve()
        except FaultError:
            return ()
        actions: list[RevertAction] = []
        processes = self.ctx.processes
        for target in targets:
            if self.params.signal in _STOP_SIGNALS:
                actions.append(
                    SignalProcess(
                        pid=target.pid,
                        create_time=target.create_time,
                        signal=signal.SIGCONT,
                        include_children=self.params.group,
                        cmdline=target.cmdline,
                    )
                )
            elif self._restarts and target.name and processes is not None:
                actions.append(StartProcess.of(processes.launch_spec(target.name)))
        return actions

    def describe(self) -> str:
        target = describe_target(self.params.target_text(), self._selector)
        return f"{self.params.signal} to {target}"


def _continue(target: Target, *, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(os.getpgid(target.pid), signal.SIGCONT)
        else:
            os.kill(target.pid, signal.SIGCONT)
