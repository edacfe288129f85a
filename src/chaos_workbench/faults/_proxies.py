"""The proxies a network fault acts on: ``proxy: a``, or ``proxies: [a, b, c]`` at once.

Several proxies make a partition: every link from one member to its peers is cut (or
slowed) in one experiment. They are applied together and reverted together, all or
nothing: when one cannot be acted on, those already done are undone before the error is
reported, and the lease lists a revert action for every one of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import Field, model_validator

from chaos_workbench.faults.base import FaultParams, Reference

__all__ = ["ProxyTargetParams"]


class ProxyTargetParams(FaultParams):
    """Exactly one of ``proxy`` (one name) or ``proxies`` (several, no duplicates)."""

    proxy: str | None = Field(
        default=None, min_length=1, description="Name of the suite's proxy to act on."
    )
    proxies: tuple[str, ...] | None = Field(
        default=None,
        min_length=1,
        description="Names of several of the suite's proxies, acted on together.",
    )

    @model_validator(mode="after")
    def _one_of_proxy_or_proxies(self) -> ProxyTargetParams:
        if (self.proxy is None) == (self.proxies is None):
            raise ValueError("give exactly one of 'proxy' (a name) or 'proxies' (a list)")
        if self.proxies is not None:
            if any(not name for name in self.proxies):
                raise ValueError("'proxies' has an empty name")
            twice = sorted({n for n in self.proxies if self.proxies.count(n) > 1})
            if twice:
                raise ValueError(f"'proxies' names {', '.join(twice)} more than once")
        return self

    @property
    def targets(self) -> tuple[str, ...]:
        """The proxies acted on, in the order given."""
        if self.proxies is not None:
            return self.proxies
        assert self.proxy is not None
        return (self.proxy,)

    def proxy_text(self) -> str:
        """``db``, or ``a, b and c``."""
        names = self.targets
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"

    def references(self) -> Sequence[Reference]:
        if self.proxies is None:
            return (Reference(kind="proxy", field="proxy", name=self.targets[0]),)
        return tuple(
            Reference(kind="proxy", field=f"proxies.{i}", name=name)
            for i, name in enumerate(self.proxies)
        )
