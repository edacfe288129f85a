"""Fault kinds for loader tests: one naming a proxy, one naming a process.

They register under names no real fault uses, so tests do not depend on which real
faults have landed; the schema test reads the registry, whatever it holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field

from chaos_workbench.faults import Fault, FaultParams, Reference, register
from chaos_workbench.model import FaultType


class SlowLinkParams(FaultParams):
    proxy: str
    latency_ms: float = Field(gt=0)

    def references(self) -> Sequence[Reference]:
        return (Reference(kind="proxy", field="proxy", name=self.proxy),)


@register
class SlowLink(Fault[SlowLinkParams]):
    kind = "test_slow_link"
    fault_type = FaultType.LATENCY
    params_model = SlowLinkParams

    async def apply(self) -> None:
        """Nothing to do: these tests only load suites."""

    async def revert(self) -> None:
        """Nothing to do: these tests only load suites."""


class StopParams(FaultParams):
    process: str

    def references(self) -> Sequence[Reference]:
        return (Reference(kind="process", field="process", name=self.process),)


@register
class Stop(Fault[StopParams]):
    kind = "test_stop"
    fault_type = FaultType.PROCESS
    params_model = StopParams

    async def apply(self) -> None:
        """Nothing to do: these tests only load suites."""

    async def revert(self) -> None:
        """Nothing to do: these tests only load suites."""
