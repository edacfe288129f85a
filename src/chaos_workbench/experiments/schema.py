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

import re
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
from chaos_workbench.host.names import Identifier, Label, LabelOrEmpty, OsText
from chaos_workbench.host.units import Milliseconds, Ratio, Seconds, SecondsOrZero, Weight
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


MAX_CONCURRENT_FAULTS = 100  # faults held at once: each is a toxic, a helper or a signal


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _address(value: str) -> str:
    split_host_port(value)
    return value


class ProxySpec(_Model):
    """A fault proxy between the service and one dependency."""

    name: Identifier
    listen: str
    upstream: str
    enabled: bool = True

    @field_validator("listen", "upstream")
    @classmethod
    def _check_address(cls, value: str) -> str:
        return _address(value)


class Defaults(_Model):
    """Phase durations and analysis settings every experiment inherits."""

    baseline_s: Seconds = 5.0
    fault_s: Seconds = 10.0
    recovery_timeout_s: Seconds = 30.0
    window_ms: int = Field(default=250, ge=10, le=60_000)
    stable_windows: int = Field(default=3, ge=1, le=1000)
    warmup_timeout_s: SecondsOrZero = Field(
        default=60.0,
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

    name: Label
    description: str = ""
    fault: FaultField
    expect: Expectations = Field(default_factory=Expectations)
    weight: Weight = 1.0
    baseline_s: Seconds | None = None
    fault_s: Seconds | None = None
    recovery_timeout_s: Seconds | None = None


class GuardrailSpec(_Model):
    """Abort the running experiment when a condition holds for ``for_s`` seconds.

    The condition is checked on the suite's own measurement windows, or, with ``probe``, on
    a probe of its own that runs for the whole suite (e.g. "abort if the primary database
    stops answering `SELECT 1`" while traffic measures the service).
    """

    name: LabelOrEmpty = ""
    probe: ProbeSpec | None = None
    success_ratio_below: Ratio | None = Field(default=None, gt=0)
    p99_ms_above: Milliseconds | None = None
    for_s: Seconds = 1.0

    @model_validator(mode="after")
    def _has_condition(self) -> GuardrailSpec:
        if self.success_ratio_below is None and self.p99_ms_above is None:
            raise ValueError("give a condition: success_ratio_below and/or p99_ms_above")
        return self


class BlastRadius(_Model):
    """What the suite may touch beyond the loopback defaults."""

    hosts: tuple[str, ...] = ()
    paths: tuple[OsText, ...] = ()
    process_patterns: tuple[str, ...] = ()
    max_concurrent_faults: int = Field(default=1, ge=1, le=MAX_CONCURRENT_FAULTS)

    @field_validator("process_patterns")
    @classmethod
    def _patterns_compile(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            regex_problem = _regex_problem(pattern)
            if regex_problem is not None:
                raise ValueError(f"{pattern!r} is not a valid regular expression: {regex_problem}")
        return value


def _regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` does not compile, or None. Beyond ``re.error``, ``a{99999999999}``
    raises OverflowError and thousands of nested groups RecursionError."""
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        return str(exc)
    return None


class Suite(_Model):
    """A whole suite file."""

    service: Label
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
