"""``memory_pressure``: hold touched memory next to a process, or on the host.

With ``process`` and ``percent``, a helper joins the target's memory cgroup and fills that
share of the cgroup's limit with touched pages, so the target feels its own limit close in
(page cache evicted, allocations failing, the OOM killer choosing). Without a limit the
size must be explicit (``size_mb``). Host-level pressure (no ``process``) takes ``size_mb``.

Whatever is asked, the host keeps ``floor_free_pct`` % of its memory available (default
10 %): beyond that the fault is refused, or with ``on_floor: cap`` shrunk to fit, and the
description says so. Revert kills the helper, which frees everything at once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal

import psutil
from pydantic import Field, model_validator

from chaos_workbench.faults._helpers import (
    HelperFault,
    lifetime_s,
    spawn_helper,
)
from chaos_workbench.faults._targets import SupervisorLike
from chaos_workbench.faults.base import (
    FaultContext,
    FaultError,
    FaultParams,
    FaultRefused,
    FaultUnsupported,
    Reference,
)
from chaos_workbench.faults.registry import register
from chaos_workbench.host import cgroups as cg
from chaos_workbench.host.units import Megabytes, Percent
from chaos_workbench.model import FaultType

__all__ = ["MemoryPressure", "MemoryPressureParams", "host_floor_size_bytes"]

_MIB = 1024 * 1024


class MemoryPressureParams(FaultParams):
    """How much memory to hold, where, and the floor that protects the host."""

    type: Literal["memory_pressure"] = "memory_pressure"
    process: str | None = Field(default=None, description="Hold memory in this process's cgroup.")
    percent: Percent | None = Field(default=None, gt=0, description="Of the cgroup limit.")
    size_mb: Megabytes | None = None
    floor_free_pct: Percent = Field(default=10.0, lt=100)
    on_floor: Literal["refuse", "cap"] = "refuse"

    @model_validator(mode="after")
    def _how_much(self) -> MemoryPressureParams:
        if self.percent is None and self.size_mb is None:
            raise ValueError("give percent (of the process's memory limit) or size_mb")
        if self.percent is not None and self.size_mb is not None:
            raise ValueError("give percent or size_mb, not both")
        if self.percent is not None and self.process is None:
            raise ValueError("percent needs a process (its cgroup limit); use size_mb for the host")
        return self

    def references(self) -> Sequence[Reference]:
        if self.process is None:
            return ()
        return (Reference(kind="process", field="process", name=self.process),)


def host_floor_size_bytes(
    size_bytes: int, floor_free_pct: float, on_floor: str
) -> tuple[int, str | None]:
    """``size_bytes`` checked against the host floor: (size to use, note if capped)."""
    memory = psutil.virtual_memory()
    floor = int(memory.total * floor_free_pct / 100)
    room = memory.available - floor
    if size_bytes <= room:
        return size_bytes, None
    message = (
        f"{size_bytes // _MIB} MB would leave less than the {floor_free_pct:g} % floor of free "
        f"memory ({memory.available // _MIB} MB available of {memory.total // _MIB} MB)"
    )
    if on_floor == "cap" and room >= _MIB:
        return room, f"capped to {room // _MIB} MB: {message}"
    raise FaultRefused(f"refused: {message}")


@register
class MemoryPressure(HelperFault[MemoryPressureParams]):
    """Hold touched memory in a helper process; revert frees it."""

    kind = "memory_pressure"
    fault_type = FaultType.RESOURCE_EXHAUSTION
    params_model = MemoryPressureParams

    def __init__(self, params: MemoryPressureParams, ctx: FaultContext) -> None:
        super().__init__(params, ctx)
        self.note: str | None = None
        self.size_bytes: int | None = None

    def _plan(self) -> tuple[int, cg.Cgroup | None]:
        """Bytes to hold and the cgroup to hold them in (raises when impossible)."""
        group = None
        if self.params.process is not None:
            name = self.params.process
            processes = self.ctx.require_processes()
            if isinstance(processes, SupervisorLike):
                group = processes.cgroup_paths(name).get("memory")
            pid = processes.pid(name)
            if group is None and pid is not None:
                group = cg.of_process(pid, "memory")
        if self.params.size_mb is not None:
            return self.params.size_mb * _MIB, self._joinable(group)
        limit = cg.memory_limit_bytes(group) if group is not None else None
        if limit is None and (reason := cg.unavailable_reason("memory")):
            raise FaultUnsupported(
                f"process {self.params.process!r} has no memory limit: no memory cgroup, and "
                f"this machine cannot give it one: {reason}; run as root, or give size_mb "
                "instead of percent"
            )
        if limit is None:
            raise FaultError(
                f"process {self.params.process!r} has no memory limit (no memory cgroup with a "
                "limit); give size_mb instead of percent, or set memory_limit_mb on the process"
            )
        assert self.params.percent is not None
        return int(limit * self.params.percent / 100), self._joinable(group)

    def _joinable(self, group: cg.Cgroup | None) -> cg.Cgroup | None:
        """``group`` if the helper may join it; FaultUnsupported when this user may not."""
        if group is not None and not os.access(group.path / "cgroup.procs", os.W_OK):
            raise FaultUnsupported(
                f"the helper cannot join process {self.params.process!r}'s memory cgroup "
                f"{group.path}: this user may not write its cgroup.procs (it needs root); "
                "leave out process to hold the memory on the host"
            )
        return group

    def preflight(self) -> None:
        if self.params.size_mb is not None:  # a percentage is checked at apply, on the limit
            host_floor_size_bytes(
                self.params.size_mb * _MIB, self.params.floor_free_pct, self.params.on_floor
            )

    async def apply(self) -> None:
        wanted, group = self._plan()
        size, self.note = host_floor_size_bytes(
            wanted, self.params.floor_free_pct, self.params.on_floor
        )
        self.size_bytes = size
        self._helper = await spawn_helper(
            "memory",
            ["--size-mb", str(max(1, size // _MIB))],
            tag=self.tag,
            max_s=lifetime_s(self.params.duration_s),
            cgroups=[group.path] if group else (),
        )

    def describe(self) -> str:
        amount = (
            f"{self.params.percent:g} % of the limit"
            if self.params.percent is not None
            else f"{self.params.size_mb} MB"
        )
        where = f"in {self.params.process}'s cgroup" if self.params.process else "on the host"
        held = f", holding {self.size_bytes // _MIB} MB" if self.size_bytes else ""
        return f"memory {amount} {where}{held}" + (f" ({self.note})" if self.note else "")
