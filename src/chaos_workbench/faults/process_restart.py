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

from pydantic import Field

from chaos_workbench.faults._targets import require_supervisor
from chaos_workbench.faults.base import Fault, FaultParams, FaultRefused, Reference
from chaos_workbench.faults.registry import register
from chaos_workbench.host.units import SecondsOrZero
from chaos_workbench.model import FaultType
from chaos_workbench.safety.actions import RevertAction, StartProcess

__all__ = ["ProcessRestart", "ProcessRestartParams"]


class ProcessRestartParams(FaultParams):
    """Which supervised process to restart, and how long it may take to stop."""

    type: Literal["process_restart"] = "process_restart"
    process: str = Field(min_length=1, description="Name of a supervised process.")
    grace_s: SecondsOrZero = Field(default=5.0, description="SIGTERM → SIGKILL delay.")

    def references(self) -> Sequence[Reference]:
        return (Reference(kind="process", field="process", name=self.process),)


@register
class ProcessRestart(Fault[ProcessRestartParams]):
    """Stop gracefully, start again, and measure the time until ready."""

    kind = "process_restart"
    fault_type = FaultType.PROCESS
    params_model = ProcessRestartParams

    restart_ms: float | None = None
    _applied = False

    def preflight(self) -> None:
        supervisor = require_supervisor(self.ctx)
        if not supervisor.is_supervised(self.params.process):
            raise FaultRefused(
                f"process {self.params.process!r} is adopted from a pid file; the workbench "
                "cannot start it again"
            )

    async def apply(self) -> None:
        supervisor = require_supervisor(self.ctx)
        self._applied = True
        started = time.monotonic_ns()
        await supervisor.stop(self.params.process, grace_s=self.params.grace_s)
        await supervisor.start(self.params.process)
        self.restart_ms = (time.monotonic_ns() - started) / 1e6

    async def revert(self) -> None:
        if not self._applied:
            return
        supervisor = require_supervisor(self.ctx)
        if supervisor.pid(self.params.process) is None:
            await supervisor.start(self.params.process)

    def revert_actions(self) -> Sequence[RevertAction]:
        return (StartProcess.of(self.ctx.require_processes().launch_spec(self.params.process)),)

    def describe(self) -> str:
        took = f", ready after {self.restart_ms:.0f} ms" if self.restart_ms is not None else ""
        return f"restart {self.params.process} (grace {self.params.grace_s:g} s){took}"
