"""The suite file's schema: typed, frozen models validated once, when the file is loaded.

A suite names the service, the traffic that measures it, the SLO that defines "healthy",
the proxies and processes the workbench may act on, and the experiments. Faults are
validated by their own parameter models, looked up by ``type`` in the fault registry.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from chaos_workbench.experiments.references import (
    DEFER_REFERENCES,
    SuiteOutline,
    host_is_loopback,
    loc_to_path,
    reference_problems,
    split_host_port,
)
from chaos_workbench.faults import FaultParams
from chaos_workbench.faults import registry as fault_registry
from chaos_workbench.model import ImpactLevel
from chaos_workbench.probes.spec import ProbeSpec
from chaos_workbench.traffic.spec import StageSpec

__all__ = [
    "BlastRadius",
    "Defaults",
    "Expectations",
    "ExperimentSpec",
    "GuardrailSpec",
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
    """HTTP load that measures the service for the whole run (see docs/traffic.md).

    Open loop by default: requests leave at ``rate_per_s`` (or along ``stages``) whatever the
    service does, and latency counts from each request's intended send time. ``mode:
    closed`` runs ``users`` concurrent users instead (each waits for its answer; this hides
    stalls and exists for comparison). ``connections`` bounds the keep-alive pool (automatic
    when unset: it grows to rate × latency). Bodies, paths and headers may use the templates
    ``{{counter}}`` and ``{{random_id}}`` (from the run's seeded RNG).
    """

    url: str = Field(description="Base URL of the service, e.g. http://127.0.0.1:8080")
    rate_per_s: float = Field(default=50.0, gt=0, le=1_000_000)
    arrival: Literal["constant", "poisson"] = "constant"
    timeout_ms: float = Field(default=2000.0, gt=0)
    connect_timeout_ms: float = Field(default=1000.0, gt=0)
    connections: int | None = Field(default=None, gt=0, le=10_000)
    mode: Literal["open", "closed"] = "open"
    users: int | None = Field(default=None, gt=0, le=10_000)
    stages: tuple[StageSpec, ...] = ()
    verify_tls: bool = True
    ca_file: str | None = None
    requests: tuple[RequestSpec, ...] = Field(default=(RequestSpec(),), min_length=1)

    @model_validator(mode="after")
    def _check_mode(self) -> TrafficSpec:
        if self.mode == "closed" and self.stages:
            raise ValueError("stages shape an open-loop rate; closed mode uses 'users'")
        if self.mode == "open" and self.users is not None:
            raise ValueError("'users' is for mode: closed (open loop uses rate_per_s)")
        return self

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
        known = ", ".join(fault_registry.all_kinds()) or "none"
        message = "Field required" if kind is None else "Input should be a valid string"
        raise _type_error(f"{message}: the kind of fault to inject (known: {known})", kind)
    try:
        model = fault_registry.params_model(kind)
    except KeyError as exc:
        raise _type_error(str(exc.args[0]), kind) from None
    return model.model_validate(value, context=info.context)


def _type_error(message: str, kind: object) -> ValidationError:
    """An error located at the fault's ``type`` key, so the report points at that line."""
    error = PydanticCustomError("fault_type", message)
    return ValidationError.from_exception_data(
        "fault", [{"type": error, "loc": ("type",), "input": kind}]
    )


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


class GuardrailSpec(_Model):
    """Abort the running experiment when a condition holds for ``for_s`` seconds.

    The condition is checked on the suite's own measurement windows, or, with ``probe``, on
    a probe of its own that runs for the whole suite (e.g. "abort if the primary database
    stops answering `SELECT 1`" while traffic measures the service).
    """

    name: str = ""
    probe: ProbeSpec | None = None
    success_ratio_below: float | None = Field(default=None, gt=0, le=1)
    p99_ms_above: float | None = Field(default=None, gt=0)
    for_s: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _has_condition(self) -> GuardrailSpec:
        if self.success_ratio_below is None and self.p99_ms_above is None:
            raise ValueError("give a condition: success_ratio_below and/or p99_ms_above")
        return self


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
    traffic: TrafficSpec | None = Field(
        default=None, description="HTTP load that measures the service (or give 'probe')."
    )
    probe: ProbeSpec | None = Field(
        default=None,
        description="Measure a non-HTTP system directly (postgres, valkey, nats, tcp) instead.",
    )
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
    guardrails: tuple[GuardrailSpec, ...] = ()
    stop_on_abort: bool = Field(
        default=False, description="Stop the whole suite when an experiment is aborted."
    )
    experiments: tuple[ExperimentSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_measurement(self) -> Suite:
        if (self.traffic is None) == (self.probe is None):
            raise ValueError(
                "give exactly one of 'traffic' (HTTP) or 'probe' (postgres, valkey, nats, tcp)"
            )
        return self

    @property
    def request_timeout_ms(self) -> float:
        """How long one measured request may take before it counts as an error."""
        measured = self.traffic if self.traffic is not None else self.probe
        assert measured is not None  # guaranteed by _one_measurement
        return measured.timeout_ms

    @model_validator(mode="after")
    def _check_references(self, info: ValidationInfo) -> Suite:
        # The loader defers these checks to report each one with its own path and line.
        if isinstance(info.context, dict) and info.context.get(DEFER_REFERENCES):
            return self
        problems = reference_problems(SuiteOutline.of(self))
        if problems:
            raise ValueError("; ".join(f"{loc_to_path(p.loc)}: {p.message}" for p in problems))
        return self
