"""``toxic``: any toxic of the fault proxy by type name, with its attributes.

For what has no dedicated fault: ``bandwidth``, ``slow_close``, ``timeout``, ``reset_peer``,
``slicer``, ``limit_data``, ``limit_time``, ``corrupt``, the HTTP toxics, ... e.g.

    fault: {type: toxic, proxy: db, toxic: bandwidth, attributes: {rate: 64}}

This module also holds what every toxic-based fault shares (``latency`` and ``http_error``
build on it): the common parameters, toxic names unique to one fault instance, a time-to-live
on every toxic, and apply/revert that add and remove the toxics idempotently.

``proxies: [a, b, c]`` instead of ``proxy: a`` adds the same toxics to each (a partition, or
a slow link to every peer): all or nothing — when one cannot be added, every toxic already
added is removed before the error is raised.

Time-to-live: every toxic is added with ``ttl_ms`` so that, if the run crashes and its
watchdog cannot revert either, the proxy drops the toxic by itself. ``ttl_s`` sets it;
by default it is ``duration_s`` + 120 s, or 900 s when the hold is not known here. A real
Toxiproxy ignores the field; there only the lease watchdog reverts after a crash.
"""

from __future__ import annotations

import contextlib
import secrets
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field, JsonValue, ValidationError, ValidationInfo, field_validator

from chaos_workbench.faults._proxies import ProxyTargetParams, choose_proxies
from chaos_workbench.faults.base import Fault, FaultContext, FaultError
from chaos_workbench.faults.registry import register
from chaos_workbench.host.units import Ratio, Seconds, non_finite_path
from chaos_workbench.model import FaultType
from chaos_workbench.safety.actions import RemoveToxic, RevertAction

__all__ = ["AnyToxic", "ProxyToxicParams", "ToxicFault", "ToxicParams", "ToxicPlan"]

TTL_GRACE_S = 120.0  # a toxic outlives its planned hold by this much before it expires
DEFAULT_TTL_S = 900.0  # when the hold is unknown: long enough for any sane hold, not forever

StreamChoice = Literal["upstream", "downstream", "both"]


class ProxyToxicParams(ProxyTargetParams):
    """Parameters every toxic-based fault takes (``proxy``, or ``proxies`` at once)."""

    toxicity: Ratio = Field(default=1.0, description="Share of connections the toxic affects.")
    ttl_s: Seconds | None = Field(
        default=None,
        description="Time-to-live of the toxics on the proxy (safety net after a crash).",
    )

    def ttl_ms(self) -> int:
        if self.ttl_s is not None:
            return round(self.ttl_s * 1000)
        if self.duration_s is not None:
            return round((self.duration_s + TTL_GRACE_S) * 1000)
        return round(DEFAULT_TTL_S * 1000)


def streams(choice: StreamChoice) -> tuple[str, ...]:
    """``both`` → one toxic per direction."""
    return ("upstream", "downstream") if choice == "both" else (choice,)


@dataclass(frozen=True)
class ToxicPlan:
    """One toxic a fault adds: everything but the proxy."""

    name: str
    type: str
    stream: str
    attributes: dict[str, Any]


P = TypeVar("P", bound=ProxyToxicParams)


class ToxicFault(Fault[P]):
    """A fault made of toxics on one or more proxies. Subclasses say which in :meth:`plan`."""

    fault_type: ClassVar[FaultType] = FaultType.NETWORK

    def __init__(self, params: P, ctx: FaultContext) -> None:
        super().__init__(params, ctx)
        # Unique per fault instance, fixed before apply so the lease names the toxics, and
        # distinct from a second fault of the same kind on the same proxy.
        self._token = secrets.token_hex(4)
        self._added: list[tuple[str, ToxicPlan]] = []

    def toxic_name(self, stream: str) -> str:
        return f"cwb_{self.kind}_{stream}_{self._token}"

    @abstractmethod
    def plan(self) -> Sequence[ToxicPlan]:
        """The toxics this fault adds (to each of its proxies)."""

    async def prepare(self) -> None:
        """With ``select``: choose the proxies now, before the lease is written."""
        self.params, choice = await choose_proxies(self.params, self.ctx)
        self.choice = choice or self.choice

    async def apply(self) -> None:
        if self._added:
            return  # applied already: idempotent
        await self.prepare()
        control = self.ctx.require_proxies()
        for proxy in self.params.targets:
            for toxic in self.plan():
                try:
                    await control.add_toxic(
                        proxy,
                        name=toxic.name,
                        type=toxic.type,
                        stream=toxic.stream,
                        toxicity=self.params.toxicity,
                        attributes=toxic.attributes,
                        ttl_ms=self.params.ttl_ms(),
                    )
                except Exception as exc:
                    # All or nothing: remove what was added on the proxies before this one,
                    # and on this one (an add whose answer was lost may have taken effect).
                    done = list(self.params.targets[: self.params.targets.index(proxy)])
                    left = await self._remove(done)
                    with contextlib.suppress(Exception):
                        await self._remove([proxy])
                    self._added.clear()
                    raise FaultError(
                        f"cannot add {toxic.type} toxic on proxy {proxy!r}: {exc}"
                        + (f"; removed again from {', '.join(done)}" if done else "")
                        + (f"; could not remove: {'; '.join(left)}" if left else "")
                    ) from exc
                self._added.append((proxy, toxic))

    async def _remove(self, proxies: Sequence[str]) -> list[str]:
        """Remove every planned toxic from ``proxies``; the errors, as text."""
        control = self.ctx.proxies
        errors: list[str] = []
        if control is None:
            return errors
        for proxy in proxies:
            for toxic in self.plan():
                try:
                    await control.remove_toxic(proxy, toxic.name)
                except Exception as exc:  # try every one, then report
                    errors.append(f"{proxy}/{toxic.name}: {exc}")
        return errors

    async def revert(self) -> None:
        if self.ctx.proxies is None:
            return
        # Remove every planned toxic, not only those known added: an add whose answer was
        # lost may still have taken effect. Removing an absent toxic is not an error.
        errors = await self._remove(self.params.targets)
        self._added.clear()
        if errors:
            raise FaultError(
                f"cannot remove toxics on proxy {self.params.proxy_text()}: " + "; ".join(errors)
            )

    def revert_actions(self) -> Sequence[RevertAction]:
        if self.ctx.proxies is None:
            return ()
        api_url = self.ctx.proxies.api_url
        return tuple(
            RemoveToxic(api_url=api_url, proxy=proxy, toxic=toxic.name)
            for proxy in self.params.targets
            for toxic in self.plan()
        )


class ToxicParams(ProxyToxicParams):
    """Any toxic by type name (``toxic``) with its ``attributes``."""

    type: Literal["toxic"] = "toxic"
    toxic: str = Field(min_length=1, description="Toxic type, e.g. bandwidth, reset_peer.")
    stream: StreamChoice = Field(
        default="downstream", description="Direction (Toxiproxy's default: downstream)."
    )
    attributes: dict[str, JsonValue] = Field(default_factory=dict)

    # Checked at suite load against our proxy's toxic types and attribute models, so a typo
    # fails `cwb validate` with its field path, not the experiment. (A real Toxiproxy driven
    # through `proxy_api` has a subset of these types.)
    @field_validator("toxic")
    @classmethod
    def _known_type(cls, value: str) -> str:
        known = _toxic_types()
        if value not in known:
            raise ValueError(f"unknown toxic type {value!r} (known: {', '.join(known)})")
        return value

    @field_validator("attributes")
    @classmethod
    def _valid_attributes(
        cls, value: dict[str, JsonValue], info: ValidationInfo
    ) -> dict[str, JsonValue]:
        where = non_finite_path(value)
        if where is not None:
            raise ValueError(f"{where}: NaN and Infinity are not JSON: give a finite number")
        toxic_cls = _toxic_types().get(str(info.data.get("toxic")))
        if toxic_cls is None:
            return value  # the type itself is reported as unknown
        try:
            toxic_cls.attributes_model.model_validate(value)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'attributes'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise ValueError(f"{info.data['toxic']} toxic: {problems}") from None
        return value


def _toxic_types() -> dict[str, type[Any]]:
    from chaos_workbench.proxy.manager import load_toxic_types
    from chaos_workbench.proxy.toxics.base import all_types

    load_toxic_types()
    return all_types()


@register
class AnyToxic(ToxicFault[ToxicParams]):
    """Any toxic by name, on one or both streams of a proxy."""

    kind = "toxic"
    fault_type = FaultType.NETWORK
    params_model = ToxicParams

    def plan(self) -> Sequence[ToxicPlan]:
        return tuple(
            ToxicPlan(self.toxic_name(s), self.params.toxic, s, dict(self.params.attributes))
            for s in streams(self.params.stream)
        )

    def describe(self) -> str:
        attrs = ", ".join(f"{k}={v}" for k, v in self.params.attributes.items())
        return f"{self.params.toxic} toxic ({attrs}) on {self.params.proxy_text()}"
