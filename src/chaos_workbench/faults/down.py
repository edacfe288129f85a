"""``down``: the dependency behind a proxy becomes unreachable.

Toxiproxy's ``down`` is not a toxic: the proxy is disabled (``enabled: false``), so it
closes its open connections and refuses new ones. Revert enables it again. Unlike a toxic,
a disabled proxy has no time-to-live on the API; after a crash the lease watchdog's
``SetProxyEnabled`` action brings it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from chaos_workbench.faults.base import Fault, FaultError, FaultParams, Reference
from chaos_workbench.faults.registry import register
from chaos_workbench.model import FaultType
from chaos_workbench.safety.actions import RevertAction, SetProxyEnabled

__all__ = ["Down", "DownParams"]


class DownParams(FaultParams):
    """Which proxy to take down."""

    type: Literal["down"] = "down"
    proxy: str = Field(min_length=1, description="Name of the suite's proxy to disable.")

    def references(self) -> Sequence[Reference]:
        return (Reference(kind="proxy", field="proxy", name=self.proxy),)


@register
class Down(Fault[DownParams]):
    """Disable a proxy: refuse new connections and drop open ones."""

    kind = "down"
    fault_type = FaultType.DEPENDENCY_DOWN
    params_model = DownParams

    async def apply(self) -> None:
        control = self.ctx.require_proxies()
        try:
            await control.set_enabled(self.params.proxy, False)
        except Exception as exc:
            raise FaultError(f"cannot disable proxy {self.params.proxy!r}: {exc}") from exc

    async def revert(self) -> None:
        if self.ctx.proxies is None:
            return
        try:
            # Enabling an enabled proxy is a no-op on the API: revert is idempotent.
            await self.ctx.proxies.set_enabled(self.params.proxy, True)
        except Exception as exc:
            raise FaultError(f"cannot enable proxy {self.params.proxy!r}: {exc}") from exc

    def revert_actions(self) -> Sequence[RevertAction]:
        if self.ctx.proxies is None:
            return ()
        return (SetProxyEnabled(api_url=self.ctx.proxies.api_url, proxy=self.params.proxy),)

    def describe(self) -> str:
        return f"{self.params.proxy} down"
