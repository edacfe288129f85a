"""``process_restart``: a graceful restart (a deploy, a config reload gone wrong).

SIGTERM, SIGKILL after ``grace_s`` if the process is still there, then start it again and
wait for readiness. The time from the stop to ready is measured and shown in ``describe``
(``restart_ms``), because "how long is the service blind during a deploy" is the question.
The restart happens in ``apply``; revert only makes sure the process runs (idempotent), so
an interrupted restart still ends with the process up. Supervised processes only: the
workbench cannot start anything else.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal

from pydantic import Field, model_validator

from chaos_workbench.faults._select import ProcessSelector
from chaos_workbench.faults._targets import choose_target, describe_target, require_supervisor
from chaos_workbench.faults.base import Fault, FaultError, FaultParams, FaultRefused, Reference
from chaos_workbench.faults.registry import register
from chaos_workbench.host.units import SecondsOrZero
from chaos_workbench.model import FaultType
from chaos_workbench.safety.actions import RevertAction, StartProcess

__all__ = ["ProcessRestart", "ProcessRestartParams"]


class ProcessRestartParams(FaultParams):
    """Which supervised process to restart, and how long it may take to stop."""

    type: Literal["process_restart"] = "process_restart"
    process: str | None = Field(
        default=None, min_length=1, description="Name of a supervised process."
    )
    select: ProcessSelector | None = Field(
        default=None, description="Ask the system which declared process, when applied."
    )
    grace_s: SecondsOrZero = Field(default=5.0, description="SIGTERM → SIGKILL delay.")

    @model_validator(mode="after")
    def _one_target(self) -> ProcessRestartParams:
        if (self.process is None) == (self.select is None):
            raise ValueError("give exactly one target: process or select")
        return self

    def references(self) -> Sequence[Reference]:
        if self.select is not None:
            return self.select.references("select")
        assert self.process is not None
        return (Reference(kind="process", field="process", name=self.process),)

    def target_text(self) -> str:
        return self.process or (self.select.describe() if self.select else "")


@register
class ProcessRestart(Fault[ProcessRestartParams]):
    """Stop gracefully, start again, and measure the time until ready."""

    kind = "process_restart"
    fault_type = FaultType.PROCESS
    params_model = ProcessRestartParams

    restart_ms: float | None = None
    _applied = False
    _selector: ProcessSelector | None = None

    async def prepare(self) -> None:
        """With ``select``: choose the process now (before the lease), then check it."""
        if self.params.select is None:
            return
        self.params, self._selector = await choose_target(self.params, self.ctx)
        self.choice = self.params.process
        self.preflight()

    def preflight(self) -> None:
        supervisor = require_supervisor(self.ctx)
        name = self.params.process
        if name is not None and not supervisor.is_supervised(name):
            raise FaultRefused(
                f"process {name!r} is adopted from a pid file; the workbench cannot start it again"
            )

    def _name(self) -> str:
        if self.params.process is None:
            raise FaultError(f"{self.params.target_text()} is chosen only when applied")
        return self.params.process

    async def apply(self) -> None:
        await self.prepare()
        name = self._name()
        supervisor = require_supervisor(self.ctx)
        self._applied = True
        started = time.monotonic_ns()
        await supervisor.stop(name, grace_s=self.params.grace_s)
        await supervisor.start(name)
        self.restart_ms = (time.monotonic_ns() - started) / 1e6

    async def revert(self) -> None:
        if not self._applied:
            return
        name = self._name()
        supervisor = require_supervisor(self.ctx)
        if supervisor.pid(name) is None:
            await supervisor.start(name)

    def revert_actions(self) -> Sequence[RevertAction]:
        if self.params.process is None:
            return ()  # not chosen yet: prepare() runs before the lease is written
        return (StartProcess.of(self.ctx.require_processes().launch_spec(self.params.process)),)

    def describe(self) -> str:
        took = f", ready after {self.restart_ms:.0f} ms" if self.restart_ms is not None else ""
        target = describe_target(self.params.target_text(), self._selector)
        return f"restart {target} (grace {self.params.grace_s:g} s){took}"
