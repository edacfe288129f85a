"""The suite file's schema: typed, frozen models validated once, when the file is loaded.

A suite names the service, the traffic that measures it, the SLO that defines "healthy",
the proxies and processes the workbench may act on, and the experiments. Faults are
validated by their own parameter models, looked up by ``type`` in the fault registry.

Each package owns the models of its section — ``traffic.spec`` (traffic, requests, stages),
``processes.spec`` (processes, readiness), ``analysis.spec`` (SLO, impact thresholds,
expectations), ``probes.spec`` (probes) — and this module composes them into
:class:`Suite`. Their names are re-exported here, where users have always imported them.
"""

from __future__ import annotations

from typing import Annotated

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

from chaos_workbench.analysis.spec import Expectations, ImpactThresholds, Slo
from chaos_workbench.experiments.references import (
    DEFER_REFERENCES,
    SuiteOutline,
    loc_to_path,
    reference_problems,
)
from chaos_workbench.faults import FaultParams
from chaos_workbench.faults import registry as fault_registry
from chaos_workbench.host.address import host_is_loopback, split_host_port
from chaos_workbench.probes.spec import ProbeSpec
from chaos_workbench.processes.spec import ProcessSpec, ReadinessSpec
from chaos_workbench.traffic.spec import RequestSpec, StageSpec, TrafficSpec

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
    "StageSpec",
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


class Defaults(_Model):
    """Phase durations and analysis settings every experiment inherits."""

    baseline_s: float = Field(default=5.0, gt=0)
    fault_s: float = Field(default=10.0, gt=0)
    recovery_timeout_s: float = Field(default=30.0, gt=0)
    window_ms: int = Field(default=250, ge=10, le=60_000)
    stable_windows: int = Field(default=3, ge=1, le=1000)
    warmup_timeout_s: float = Field(
        default=60.0,
        ge=0,
        description="Before the first experiment, wait up to this long for steady state "
        "(0: do not wait).",
    )


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
