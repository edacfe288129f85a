"""``down``: the dependency behind a proxy becomes unreachable.

Toxiproxy's ``down`` is not a toxic: the proxy is disabled (``enabled: false``), so it
closes its open connections and refuses new ones. Revert enables it again. Unlike a toxic,
a disabled proxy has no time-to-live on the API; after a crash the lease watchdog's
``SetProxyEnabled`` action brings it back.

``proxies: [a, b, c]`` disables several at once (a partition): all or nothing — when one
cannot be disabled, those already disabled are enabled again before the error is raised.
With ``select``, the proxies in front of the process it names when applied (``_proxies``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Literal

from chaos_workbench.faults._proxies import ProxyTargetParams, choose_proxies
from chaos_workbench.faults.base import Fault, FaultError, ProxyControl
from chaos_workbench.faults.registry import register
from chaos_workbench.model import FaultType
from chaos_workbench.safety.actions import RevertAction, SetProxyEnabled

__all__ = ["Down", "DownParams"]


class DownParams(ProxyTargetParams):
    """Which proxy (or proxies) to take down."""

    type: Literal["down"] = "down"


@register
class Down(Fault[DownParams]):
    """Disable proxies: refuse new connections and drop open ones."""

    kind = "down"
    fault_type = FaultType.DEPENDENCY_DOWN
    params_model = DownParams

    async def prepare(self) -> None:
        """With ``select``: choose the proxies now, before the lease is written."""
        self.params, choice = await choose_proxies(self.params, self.ctx)
        self.choice = choice or self.choice

    async def apply(self) -> None:
        await self.prepare()
        control = self.ctx.require_proxies()
        done: list[str] = []
        for proxy in self.params.targets:
            try:
                await control.set_enabled(proxy, False)
            except Exception as exc:
                # All or nothing: enable again what this apply disabled, and the one that
                # failed too, in case its answer was lost after it took effect.
                with contextlib.suppress(Exception):
                    await control.set_enabled(proxy, True)
                undone = await _enable_quietly(control, done)
                raise FaultError(
                    f"cannot disable proxy {proxy!r}: {exc}"
                    + (f"; enabled again: {', '.join(done)}" if done else "")
                    + (f"; could not enable again: {undone}" if undone else "")
                ) from exc
            done.append(proxy)

    async def revert(self) -> None:
        if self.ctx.proxies is None:
            return
        errors: list[str] = []
        for proxy in self.params.targets:
            try:
                # Enabling an enabled proxy is a no-op on the API: revert is idempotent.
                await self.ctx.proxies.set_enabled(proxy, True)
            except Exception as exc:  # try every proxy, then report
                errors.append(f"{proxy!r}: {exc}")
        if errors:
            raise FaultError("cannot enable proxy " + "; ".join(errors))

    def revert_actions(self) -> Sequence[RevertAction]:
        if self.ctx.proxies is None:
            return ()
        api_url = self.ctx.proxies.api_url
        return tuple(SetProxyEnabled(api_url=api_url, proxy=p) for p in self.params.targets)

    def describe(self) -> str:
        return f"{self.params.proxy_text()} down"


async def _enable_quietly(control: ProxyControl, proxies: Sequence[str]) -> str:
    """Enable each of ``proxies``; the ones that failed, as text ("" when none did)."""
    failed: list[str] = []
    for proxy in proxies:
        try:
            await control.set_enabled(proxy, True)
        except Exception:
            failed.append(proxy)
    return ", ".join(failed)
