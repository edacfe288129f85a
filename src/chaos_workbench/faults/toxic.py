"""``toxic``: any toxic of the fault proxy by type name, with its attributes.

For what has no dedicated fault: ``bandwidth``, ``slow_close``, ``timeout``, ``reset_peer``,
``slicer``, ``limit_data``, ``limit_time``, ``corrupt``, the HTTP toxics, ... e.g.

    fault: {type: toxic, proxy: db, toxic: bandwidth, attributes: {rate: 64}}

This module also holds what every toxic-based fault shares (``latency`` and ``http_error``
build on it): the common parameters, toxic names unique to one fault instance, a time-to-live
on every toxic, and apply/revert that add and remove the toxics idempotently.

Time-to-live: every toxic is added with ``ttl_ms`` so that, if the run crashes and its
watchdog cannot revert either, the proxy drops the toxic by itself. ``ttl_s`` sets it;
by default it is ``duration_s`` + 120 s, or 900 s when the hold is not known here. A real
Toxiproxy ignores the field; there only the lease watchdog reverts after a crash.
"""

from __future__ import annotations

import secrets
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field, JsonValue, ValidationError, ValidationInfo, field_validator

from chaos_workbench.faults.base import Fault, FaultContext, FaultError, FaultParams, Reference
from chaos_workbench.faults.registry import register
from chaos_workbench.host.units import Ratio, Seconds, non_finite_path
from chaos_workbench.model import FaultType
from chaos_workbench.safety.actions import RemoveToxic, RevertAction

__all__ = ["AnyToxic", "ProxyToxicParams", "ToxicFault", "ToxicParams", "ToxicPlan"]

TTL_GRACE_S = 120.0  # a toxic outlives its planned hold by this much before it expires
DEFAULT_TTL_S = 900.0  # when the hold is unknown: long enough for any sane hold, not forever

StreamChoice = Literal["upstream", "downstream", "both"]


class ProxyToxicParams(FaultParams):
    """Parameters every toxic-based fault takes."""

    proxy: str = Field(min_length=1, description="Name of the suite's proxy to act on.")
    toxicity: Ratio = Field(default=1.0, description="Share of connections the toxic affects.")
    ttl_s: Seconds | None = Field(
        default=None,
        description="Time-to-live of the toxics on the proxy (safety net after a crash).",
    )

    def references(self) -> Sequence[Reference]:
        return (Reference(kind="proxy", field="proxy", name=self.proxy),)

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
    """A fault made of toxics on one proxy. Subclasses say which in :meth:`plan`."""

    fault_type: ClassVar[FaultType] = FaultType.NETWORK

    def __init__(self, params: P, ctx: FaultContext) -> None:
        super().__init__(params, ctx)
        # Unique per fault instance, fixed before apply so the lease names the toxics, and
        # distinct from a second fault of the same kind on the same proxy.
        self._token = secrets.token_hex(4)
        self._added: list[ToxicPlan] = []

    def toxic_name(self, stream: str) -> str:
        return f"cwb_{self.kind}_{stream}_{self._token}"

    @abstractmethod
    def plan(self) -> Sequence[ToxicPlan]:
        """The toxics this fault adds."""

    async def apply(self) -> None:
        if self._added:
            return  # applied already: idempotent
        control = self.ctx.require_proxies()
        for toxic in self.plan():
            try:
                await control.add_toxic(
                    self.params.proxy,
                    name=toxic.name,
                    type=toxic.type,
                    stream=toxic.stream,
                    toxicity=self.params.toxicity,
                    attributes=toxic.attributes,
                    ttl_ms=self.params.ttl_ms(),
                )
            except Exception as exc:
                await self.revert()  # nothing half-applied
                raise FaultError(
                    f"cannot add {toxic.type} toxic on proxy {self.params.proxy!r}: {exc}"
                ) from exc
            self._added.append(toxic)

    async def revert(self) -> None:
        if self.ctx.proxies is None:
            return
        # Remove every planned toxic, not only those known added: an add whose answer was
        # lost may still have taken effect. Removing an absent toxic is not an error.
        errors: list[str] = []
        for toxic in self.plan():
            try:
                await self.ctx.proxies.remove_toxic(self.params.proxy, toxic.name)
            except Exception as exc:
                errors.append(f"{toxic.name}: {exc}")
        self._added.clear()
        if errors:
            raise FaultError(
                f"cannot remove toxics on proxy {self.params.proxy!r}: " + "; ".join(errors)
            )

    def revert_actions(self) -> Sequence[RevertAction]:
        if self.ctx.proxies is None:
            return ()
        api_url = self.ctx.proxies.api_url
        return tuple(
            RemoveToxic(api_url=api_url, proxy=self.params.proxy, toxic=toxic.name)
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
        return f"{self.params.toxic} toxic ({attrs}) on {self.params.proxy}"
