"""The suite file's schema: typed, frozen models validated once, when the file is loaded.

A suite names the service, the traffic that measures it, the SLO that defines "healthy",
the proxies and processes the workbench may act on, and the experiments. Faults are
validated by their own parameter models, looked up by ``type`` in the fault registry.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from chaos_workbench.faults import FaultParams
from chaos_workbench.faults import registry as fault_registry
from chaos_workbench.model import ImpactLevel

__all__ = [
    "BlastRadius",
    "Defaults",
    "Expectations",
    "ExperimentSpec",
    "ImpactThresholds",
    "ProcessSpec",
    "ProxySpec",
    "ReadinessSpec",
    "RequestSpec",
    "Slo",
    "Suite",
    "TrafficSpec",
    "host_is_loopback",
    "split_host_port",
]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def split_host_port(address: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"`` or ``"[::1]:8080"`` → (host, port); ValueError if malformed."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"expected host:port, got {address!r}")
    port = int(port_text)
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be 0..65535, got {port}")
    return host.strip("[]"), port


def host_is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _address(value: str) -> str:
    split_host_port(value)
    return value


class RequestSpec(_Model):
    """One entry of the request mix."""

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    path: str = Field(default="/", pattern=r"^/")
    weight: float = Field(default=1.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class TrafficSpec(_Model):
    """Open-loop HTTP load that measures the service for the whole run."""

    url: str = Field(description="Base URL of the service, e.g. http://127.0.0.1:8080")
    rate_per_s: float = Field(default=50.0, gt=0, le=1_000_000)
    arrival: Literal["constant", "poisson"] = "constant"
    timeout_ms: float = Field(default=2000.0, gt=0)
    connections: int | None = Field(default=None, gt=0, le=10_000)
    requests: tuple[RequestSpec, ...] = Field(default=(RequestSpec(),), min_length=1)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL with a host, got {value!r}")
        return value.rstrip("/")


class Slo(_Model):
    """What "healthy" means, checked on every window."""

    success_ratio: float = Field(default=0.99, gt=0, le=1)
    p99_ms: float | None = Field(default=None, gt=0)


class ImpactThresholds(_Model):
    """Success ratios that separate degraded, partial and full outage (see docs/analysis.md)."""

    partial_outage_below: float = Field(default=0.90, gt=0, le=1)
    full_outage_below: float = Field(default=0.10, ge=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> ImpactThresholds:
        if self.full_outage_below >= self.partial_outage_below:
            raise ValueError("full_outage_below must be lower than partial_outage_below")
        return self


class ProxySpec(_Model):
    """A fault proxy between the service and one dependency."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    listen: str
    upstream: str
    enabled: bool = True

    @field_validator("listen", "upstream")
    @classmethod
    def _check_address(cls, value: str) -> str:
        return _address(value)


class ReadinessSpec(_Model):
    """How to tell that a (re)started process is ready to serve."""

    port: int | None = Field(default=None, gt=0, le=65535)
    host: str = "127.0.0.1"
    command: tuple[str, ...] | None = None
    log_line: str | None = None
    timeout_s: float = Field(default=30.0, gt=0)


class ProcessSpec(_Model):
    """A process the workbench may act on: one it starts and supervises, or one by pid file."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    command: tuple[str, ...] | None = None
    pid_file: str | None = None
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    ready: ReadinessSpec = Field(default_factory=ReadinessSpec)
    memory_limit_mb: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _command_or_pid_file(self) -> ProcessSpec:
        if (self.command is None) == (self.pid_file is None):
            raise ValueError("give exactly one of 'command' (start and supervise) or 'pid_file'")
        return self


class Defaults(_Model):
    """Phase durations and analysis settings every experiment inherits."""

    baseline_s: float = Field(default=5.0, gt=0)
    fault_s: float = Field(default=10.0, gt=0)
    recovery_timeout_s: float = Field(default=30.0, gt=0)
    window_ms: int = Field(default=250, ge=10, le=60_000)
    stable_windows: int = Field(default=3, ge=1, le=1000)


class Expectations(_Model):
    """What the experiment must show to pass."""

    max_impact: ImpactLevel = ImpactLevel.FULL_OUTAGE
    recovery_within_s: float | None = Field(default=None, ge=0)


def _parse_fault(value: object, info: ValidationInfo) -> object:
    """Dispatch a fault mapping to its kind's parameter model (by ``type``)."""
    if isinstance(value, FaultParams):
        return value
    if not isinstance(value, dict):
        raise ValueError("expected a mapping with a 'type' key")
    kind = value.get("type")
    if not isinstance(kind, str):
        raise ValueError("missing 'type': which fault to inject")
    try:
        model = fault_registry.params_model(kind)
    except KeyError as exc:
        raise ValueError(str(exc.args[0])) from None
    return model.model_validate(value, context=info.context)


FaultField = Annotated[FaultParams, BeforeValidator(_parse_fault)]


class ExperimentSpec(_Model):
    """One experiment: a fault, held for a while, with what it must show to pass."""

    name: str = Field(min_length=1)
    description: str = ""
    fault: FaultField
    expect: Expectations = Field(default_factory=Expectations)
    weight: float = Field(default=1.0, gt=0)
    baseline_s: float | None = Field(default=None, gt=0)
    fault_s: float | None = Field(default=None, gt=0)
    recovery_timeout_s: float | None = Field(default=None, gt=0)


class BlastRadius(_Model):
    """What the suite may touch beyond the loopback defaults."""

    hosts: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    process_patterns: tuple[str, ...] = ()
    max_concurrent_faults: int = Field(default=1, ge=1)


class Suite(_Model):
    """A whole suite file."""

    service: str = Field(min_length=1)
    seed: int | None = None
    traffic: TrafficSpec
    slo: Slo = Field(default_factory=Slo)
    impact: ImpactThresholds = Field(default_factory=ImpactThresholds)
    proxy_api: str | None = Field(
        default=None,
        description="URL of a Toxiproxy-compatible API to drive instead of the built-in proxy.",
    )
    proxies: tuple[ProxySpec, ...] = ()
    processes: tuple[ProcessSpec, ...] = ()
    defaults: Defaults = Field(default_factory=Defaults)
    blast_radius: BlastRadius = Field(default_factory=BlastRadius)
    experiments: tuple[ExperimentSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_references(self) -> Suite:
        problems: list[str] = []
        names = {
            "proxy": {p.name for p in self.proxies},
            "process": {p.name for p in self.processes},
        }
        for section, items in (("proxies", self.proxies), ("processes", self.processes)):
            seen: set[str] = set()
            for item in items:
                if item.name in seen:
                    problems.append(f"{section}: name {item.name!r} is defined twice")
                seen.add(item.name)
        seen_experiments: set[str] = set()
        for index, exp in enumerate(self.experiments):
            if exp.name in seen_experiments:
                problems.append(f"experiments.{index}.name: {exp.name!r} is used twice")
            seen_experiments.add(exp.name)
            for ref in exp.fault.references():
                if ref.name not in names[ref.kind]:
                    defined = ", ".join(sorted(names[ref.kind])) or "none"
                    problems.append(
                        f"experiments.{index}.fault.{ref.field}: {ref.kind} {ref.name!r} is "
                        f"not defined (defined: {defined})"
                    )
        allowed = set(self.blast_radius.hosts)
        targets = [("traffic.url", urlsplit(self.traffic.url).hostname or "")]
        for index, proxy in enumerate(self.proxies):
            targets.append((f"proxies.{index}.upstream", split_host_port(proxy.upstream)[0]))
        for where, host in targets:
            if not host_is_loopback(host) and host not in allowed:
                problems.append(
                    f"{where}: {host!r} is not on loopback; list it under blast_radius.hosts "
                    "to allow it"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self
