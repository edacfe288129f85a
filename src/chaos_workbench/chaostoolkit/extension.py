"""The ``cwb`` extension of a Chaos Toolkit experiment: what to measure while it runs.

An entry of the experiment's ``extensions`` list named ``cwb`` (Chaos Toolkit keeps
extensions it does not know as they are)::

    extensions:
      - name: cwb
        traffic: {url: "http://127.0.0.1:8080/health", rate_per_s: 50}   # or probe: {...}
        slo: {success_ratio: 0.99, p99_ms: 500}
        impact: {partial_outage_below: 0.9, full_outage_below: 0.1}
        expect: {max_impact: full_outage, recovery_within_s: 10}
        recovery_timeout_s: 30
        window_ms: 250

The sections are our suites' own models (``TrafficSpec``, ``ProbeSpec``, ``Slo``,
``ImpactThresholds``, ``Expectations``), checked by the experiment's loader with the rest
of the file (``file:line: extensions[0].traffic.url: ...``). ``${name}`` is replaced from
the experiment's configuration and secrets first, as Chaos Toolkit replaces it in
activities (values set during the run, e.g. ``${proxy_PORT}``, are not known yet).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, model_validator

from chaos_workbench.analysis.spec import Expectations, ImpactThresholds, Slo
from chaos_workbench.chaostoolkit.values import substitute
from chaos_workbench.experiments.source import Loc
from chaos_workbench.host.address import host_is_loopback
from chaos_workbench.model import FaultType
from chaos_workbench.probes.spec import ProbeSpec
from chaos_workbench.traffic.spec import TrafficSpec

__all__ = ["EXTENSION_NAME", "CwbExtension", "check_cwb_extension"]

EXTENSION_NAME = "cwb"
_PROBE_TAGS = ("postgres", "valkey", "nats", "tcp", "prometheus")


class CwbExtension(BaseModel):
    """What to measure (traffic or a probe), what "healthy" is, and what passes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Literal["cwb"]
    traffic: TrafficSpec | None = None
    probe: ProbeSpec | None = None
    slo: Slo = Slo()
    impact: ImpactThresholds = ImpactThresholds()
    expect: Expectations = Expectations()
    recovery_timeout_s: float = Field(default=30.0, gt=0, le=3600, allow_inf_nan=False)
    window_ms: int = Field(default=250, ge=10, le=60_000)
    stable_windows: int = Field(default=3, ge=1, le=1000)
    baseline_windows: int = Field(default=2, ge=1, le=1000)
    baseline_timeout_s: float = Field(default=10.0, gt=0, le=3600, allow_inf_nan=False)
    fault_type: FaultType | None = None
    allowed_hosts: tuple[str, ...] = ()
    seed: int | None = Field(default=None, ge=0, lt=2**32)

    @model_validator(mode="after")
    def _one_measurement(self) -> CwbExtension:
        if (self.traffic is None) == (self.probe is None):
            raise ValueError("give either traffic or probe (one of them)")
        return self

    def target(self) -> tuple[str, str]:
        """(field, host) of what is measured, for the loopback check."""
        if self.traffic is not None:
            return "traffic.url", urlsplit(self.traffic.url).hostname or ""
        assert self.probe is not None
        field, host = self.probe.target()
        return f"probe.{field}", host


def check_cwb_extension(
    data: Mapping[str, Any],
    configuration: Mapping[str, JsonValue],
    secrets: Mapping[str, Mapping[str, JsonValue]],
    add: Callable[[Loc, str], None],
) -> CwbExtension | None:
    """The experiment's ``cwb`` extension, validated; None when it has none (or it is
    invalid: each problem is passed to ``add`` with its location)."""
    extensions = data.get("extensions")
    if extensions is None:
        return None
    if not isinstance(extensions, list):
        add(("extensions",), "expected a list of extensions")
        return None
    found: CwbExtension | None = None
    seen = False
    for index, raw in enumerate(extensions):
        if not isinstance(raw, dict) or raw.get("name") != EXTENSION_NAME:
            continue
        loc: Loc = ("extensions", index)
        if seen:
            add((*loc, "name"), "a second cwb extension: give one")
            continue
        seen = True
        found = _validate(loc, raw, configuration, secrets, add)
    return found


def _validate(
    loc: Loc,
    raw: dict[str, JsonValue],
    configuration: Mapping[str, JsonValue],
    secrets: Mapping[str, Mapping[str, JsonValue]],
    add: Callable[[Loc, str], None],
) -> CwbExtension | None:
    try:
        extension = CwbExtension.model_validate(substitute(raw, configuration, secrets))
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            add((*loc, *_without_tags(tuple(error["loc"]))), _message(error))
        return None
    field, host = extension.target()
    if not host_is_loopback(host) and host not in extension.allowed_hosts:
        add(
            (*loc, *field.split(".")),
            f"{host!r} is not on loopback; list it under allowed_hosts to allow it",
        )
        return None
    return extension


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    return str(error["msg"]).removeprefix("Value error, ")


def _without_tags(loc: tuple[str | int, ...]) -> Loc:
    """pydantic's location minus the probe kind it inserts (``probe.tcp.address``)."""
    kept: list[str | int] = []
    for part in loc:
        if kept and kept[-1] == "probe" and part in _PROBE_TAGS:
            continue
        kept.append(part)
    return tuple(kept)
