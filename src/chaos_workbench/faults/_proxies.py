"""The proxies a network fault acts on: ``proxy: a``, or ``proxies: [a, b, c]`` at once.

Several proxies make a partition: every link from one member to its peers is cut (or
slowed) in one experiment. They are applied together and reverted together, all or
nothing: when one cannot be acted on, those already done are undone before the error is
reported, and the lease lists a revert action for every one of them.

With ``select`` (a :class:`ProcessSelector`, as process faults take), ``proxies`` are the
candidates and the fault acts on those whose upstream is a port of the process the
selector names when the fault is applied: "the leader's proxies", whoever leads then::

    proxies: [n1-peer, n2-peer, n3-peer]
    select: {command: [etcdctl, endpoint, status], pattern: '...', among: [n1, n2, n3]}

The choice is made in the fault's ``prepare`` (before the lease is written), through the
proxy API's record of each candidate's upstream, and the parameters become an ordinary
``proxies:`` fault on the chosen ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

from pydantic import Field, model_validator

from chaos_workbench.faults._select import ProcessSelector, process_ports, run_selector
from chaos_workbench.faults.base import FaultContext, FaultError, FaultParams, Reference
from chaos_workbench.host.address import split_host_port

__all__ = ["ProxyTargetParams", "choose_proxies", "proxies_in_front_of"]


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
    select: ProcessSelector | None = Field(
        default=None,
        description="Ask, when applied, which process: act on those of 'proxies' in front of it.",
    )

    @model_validator(mode="after")
    def _one_of_proxy_or_proxies(self) -> ProxyTargetParams:
        if self.select is not None and self.proxies is None:
            raise ValueError("'select' chooses among 'proxies': list the candidate proxies")
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
        """The proxies acted on, in the order given (none while ``select`` has not chosen)."""
        if self.select is not None:
            return ()
        if self.proxies is not None:
            return self.proxies
        assert self.proxy is not None
        return (self.proxy,)

    def proxy_text(self) -> str:
        """``db``, or ``a, b and c``."""
        if self.select is not None:
            return f"the proxies in front of {self.select.describe()}"
        names = self.targets
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"

    def references(self) -> Sequence[Reference]:
        if self.proxies is None:
            assert self.proxy is not None
            return (Reference(kind="proxy", field="proxy", name=self.proxy),)
        refs = [
            Reference(kind="proxy", field=f"proxies.{i}", name=name)
            for i, name in enumerate(self.proxies)
        ]
        if self.select is not None:
            refs.extend(self.select.references("select"))
        return tuple(refs)


def proxies_in_front_of(ports: Sequence[int], upstreams: Mapping[str, str]) -> tuple[str, ...]:
    """The proxies (name → ``host:port`` upstream, in order) whose upstream port is in ``ports``."""
    wanted = set(ports)
    return tuple(
        name for name, upstream in upstreams.items() if split_host_port(upstream).port in wanted
    )


P = TypeVar("P", bound=ProxyTargetParams)


async def choose_proxies(params: P, ctx: FaultContext) -> tuple[P, str | None]:
    """Ask ``params.select`` which process, now, and return the parameters as a plain
    ``proxies:`` fault on the candidates in front of it, and what was chosen for reports
    (``etcd2-peer (in front of etcd2)``); unchanged, and None, without ``select``.

    A FaultError (nothing injected) when the answer names no process, or none of the
    candidate proxies forwards to one of its ports."""
    if params.select is None or params.proxies is None:
        return params, None
    ports = process_ports(ctx)
    name = await run_selector(params.select, ports)
    lookup = getattr(ctx.require_proxies(), "proxy", None)
    if lookup is None:
        raise FaultError("this proxy API cannot tell a proxy's upstream: 'select' needs it")
    upstreams: dict[str, str] = {}
    for proxy in params.proxies:
        try:
            upstreams[proxy] = str((await lookup(proxy)).upstream)
        except Exception as exc:
            raise FaultError(f"cannot read proxy {proxy!r} from the proxy API: {exc}") from exc
    chosen = proxies_in_front_of(ports.get(name, ()), upstreams)
    if not chosen:
        raise FaultError(
            f"{params.select.describe()} is {name}, and none of the proxies "
            f"{', '.join(params.proxies)} forwards to its ports "
            f"({', '.join(map(str, ports.get(name, ()))) or 'none declared'}): nothing was injected"
        )
    choice = f"{', '.join(chosen)} (in front of {name})"
    return params.model_copy(update={"select": None, "proxies": chosen}), choice
