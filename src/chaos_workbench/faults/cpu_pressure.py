"""``cpu_pressure``: N workers each busy ``load_pct`` % of the time (a noisy neighbour).

Each worker spins for ``load_pct`` % of a 100 ms period and sleeps for the rest, so the
load is spread over time like real contention instead of a 100 % burst. Host-wide by
default; with ``process``, the workers join that process's CPU cgroup and compete for its
quota (the case of a container whose CPU limit a co-located job eats). The workers are
separate processes (one helper and its forks), killed at once on revert.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from chaos_workbench.faults._helpers import (
    HelperFault,
    lifetime_s,
    spawn_helper,
)
from chaos_workbench.faults._targets import SupervisorLike
from chaos_workbench.faults.base import (
    FaultError,
    FaultParams,
    Reference,
)
from chaos_workbench.faults.registry import register
from chaos_workbench.host import cgroups as cg
from chaos_workbench.host.units import Milliseconds, Percent
from chaos_workbench.model import FaultType

__all__ = ["CpuPressure", "CpuPressureParams"]


class CpuPressureParams(FaultParams):
    """How many workers, how busy, and where."""

    type: Literal["cpu_pressure"] = "cpu_pressure"
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)
    load_pct: Percent = Field(default=100.0, gt=0)
    process: str | None = Field(
        default=None, description="Put the workers in this supervised process's CPU cgroup."
    )
    period_ms: Milliseconds = Field(default=100.0, ge=10, le=10_000)

    def references(self) -> Sequence[Reference]:
        if self.process is None:
            return ()
        return (Reference(kind="process", field="process", name=self.process),)


@register
class CpuPressure(HelperFault[CpuPressureParams]):
    """Burn CPU in helper processes at a duty cycle; revert kills them."""

    kind = "cpu_pressure"
    fault_type = FaultType.RESOURCE_EXHAUSTION
    params_model = CpuPressureParams

    def _cgroup(self) -> cg.Cgroup | None:
        name = self.params.process
        if name is None:
            return None
        processes = self.ctx.require_processes()
        group = (
            processes.cgroup_paths(name).get("cpu")
            if isinstance(processes, SupervisorLike)
            else None
        )
        pid = processes.pid(name)
        if group is None and pid is not None:
            group = cg.of_process(pid, "cpu")
        if group is None:
            raise FaultError(
                f"process {name!r} is in no CPU cgroup of its own (the machine allows none, or "
                "it is not running); leave out 'process' for host-wide pressure"
            )
        return group

    def preflight(self) -> None:
        if self.params.process is not None and self.ctx.processes is None:
            raise FaultError("cpu_pressure on a process needs the suite's processes")

    async def apply(self) -> None:
        group = self._cgroup()
        args = [
            "--workers",
            str(self.params.workers),
            "--load-pct",
            str(self.params.load_pct),
            "--period-ms",
            str(self.params.period_ms),
        ]
        self._helper = await spawn_helper(
            "cpu",
            args,
            tag=self.tag,
            max_s=lifetime_s(self.params.duration_s),
            cgroups=[group.path] if group else (),
        )

    def describe(self) -> str:
        where = f"in {self.params.process}'s cgroup" if self.params.process else "host-wide"
        return f"cpu {self.params.workers}×{self.params.load_pct:g} % {where}"
