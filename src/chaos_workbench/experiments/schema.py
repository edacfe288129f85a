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

import functools
import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from chaos_workbench.analysis.spec import Expectations, ImpactThresholds, Slo
from chaos_workbench.chaosmesh.dispatch import (
    in_kubernetes_suite,
    kubernetes_suite,
    parse_kube_fault,
)
from chaos_workbench.experiments import sweep as sweeps
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
from chaos_workbench.kube.spec import KubernetesSpec
from chaos_workbench.model import SweepPoint, SweepValue
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
    "ScheduledFault",
    "Slo",
    "StageSpec",
    "Suite",
    "TrafficSpec",
    "host_is_loopback",
    "split_host_port",
]


MAX_CONCURRENT_FAULTS = 100  # faults held at once: each is a toxic, a helper or a signal
MAX_PARALLEL_COPIES = 16  # experiment copies of the whole system, each its processes and proxies


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
    return _validate_fault(value, info, offset=False)


@functools.cache
def with_offset(model: type[FaultParams]) -> type[FaultParams]:
    """``model`` plus ``at_s``: a ``faults:`` item validated in one pass, every mistake at once."""
    offset: Any = (SecondsOrZero, 0.0)
    return create_model(model.__name__, __base__=model, at_s=offset)


def _validate_fault(value: object, info: ValidationInfo, *, offset: bool) -> object:
    if isinstance(value, FaultParams):
        return value
    if in_kubernetes_suite():  # a Kubernetes suite's faults are Chaos Mesh objects
        return parse_kube_fault(value, info.context, offset=offset)
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
    return (with_offset(model) if offset else model).model_validate(value, context=info.context)


def _type_error(message: str, kind: object) -> ValidationError:
    """An error located at the fault's ``type`` key, so the report points at that line."""
    error = PydanticCustomError("fault_type", message)
    return ValidationError.from_exception_data(
        "fault", [{"type": error, "loc": ("type",), "input": kind}]
    )


FaultField = Annotated[FaultParams, BeforeValidator(_parse_fault)]


class ScheduledFault(_Model):
    """One fault of a compound experiment (``faults:``): its parameters, and when it starts
    (``at_s`` after the fault phase begins). It holds for its own ``duration_s``, or to the
    end of the fault phase."""

    at_s: SecondsOrZero = 0.0
    fault: FaultField


def _parse_scheduled(value: object, info: ValidationInfo) -> object:
    """A ``faults:`` item is a fault mapping with an optional ``at_s`` beside its fields."""
    if isinstance(value, ScheduledFault) or not isinstance(value, dict):
        return value  # a mapping that is not a fault is reported by ScheduledFault itself
    item = _validate_fault(value, info, offset=True)
    rest = {k: v for k, v in value.items() if k != "at_s"}
    at_s = getattr(item, "at_s", 0.0)
    return ScheduledFault(at_s=at_s, fault=_validate_fault(rest, info, offset=False))


ScheduledFaultField = Annotated[ScheduledFault, BeforeValidator(_parse_scheduled)]
SweepValues = Annotated[
    tuple[SweepValue, ...], Field(min_length=2, max_length=sweeps.MAX_SWEEP_VALUES)
]


class ExperimentSpec(_Model):
    """One experiment: a fault (or several, ``faults``), held for a while, with what it
    must show to pass. ``sweep`` runs it once per value of one of its fault's parameters."""

    name: Label
    description: str = ""
    fault: FaultField | None = None
    faults: tuple[ScheduledFaultField, ...] = Field(default=(), max_length=MAX_CONCURRENT_FAULTS)
    sweep: dict[str, SweepValues] | None = Field(
        default=None,
        description="Run once per value of one fault parameter, e.g. {latency_ms: [50, 200]}.",
    )
    # Set on each experiment a sweep expands into; never read from a file.
    _sweep_of: SweepPoint | None = PrivateAttr(default=None)
    expect: Expectations = Field(default_factory=Expectations)
    weight: Weight = 1.0
    baseline_s: Seconds | None = None
    fault_s: Seconds | None = None
    recovery_timeout_s: Seconds | None = None

    @model_validator(mode="after")
    def _one_fault_source(self, info: ValidationInfo) -> ExperimentSpec:
        if (self.fault is None) == (not self.faults):
            raise ValueError(
                "give exactly one of 'fault' (one fault, held for the fault phase) or "
                "'faults' (several, each with an optional at_s and duration_s)"
            )
        if self.sweep is not None:
            if self.fault is None:
                errors = [sweeps.sweep_error("a sweep varies the single 'fault'; not 'faults'")]
            else:
                errors = sweeps.sweep_errors(self.fault, self.sweep, info.context)
            if errors:
                for error in errors:
                    error["loc"] = ("sweep", *error["loc"])
                raise ValidationError.from_exception_data("sweep", errors)
        return self

    @property
    def sweep_of(self) -> SweepPoint | None:
        """The sweep and value this experiment runs, when a sweep expanded into it."""
        return self._sweep_of

    def sweep_value(self, point: SweepPoint, fault: FaultParams) -> ExperimentSpec:
        """This sweep experiment's run of one value (see ``Suite.expand_sweeps``)."""
        name = sweeps.expanded_name(self.name, point.parameter, point.value)
        spec = self.model_copy(update={"name": name, "fault": fault, "sweep": None})
        spec._sweep_of = point
        return spec

    @property
    def schedule(self) -> tuple[ScheduledFault, ...]:
        """Every fault with its start: ``fault:`` is one fault at 0 for the whole phase."""
        if self.fault is not None:
            return (ScheduledFault(fault=self.fault),)
        return self.faults


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
    parallel: int = Field(
        default=0,
        ge=0,
        le=MAX_PARALLEL_COPIES,
        description="Run experiments on this many isolated copies of the system at once, "
        "beside a control copy (0: one after another on one system).",
    )
    kubernetes: KubernetesSpec | None = Field(
        default=None,
        description="Inject the faults in Kubernetes through Chaos Mesh (docs/kubernetes.md).",
    )
    experiments: tuple[ExperimentSpec, ...] = Field(min_length=1)

    @model_validator(mode="wrap")
    @classmethod
    def _kubernetes_faults(cls, data: object, handler: ModelWrapValidatorHandler[Suite]) -> Suite:
        with kubernetes_suite(isinstance(data, dict) and data.get("kubernetes") is not None):
            return handler(data)

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
    def _check_schedules(self) -> Suite:
        """Compound faults fit their fault phase and the blast radius's concurrency."""
        errors = sweeps.schedule_errors(self)
        if errors:
            raise ValidationError.from_exception_data("suite", errors)
        return self

    def expand_sweeps(self) -> Suite:
        """Each ``sweep:`` experiment replaced by one experiment per value, in place.

        Done when a suite is validated (the loader does it after locating every problem by
        the file's own experiment indexes); a suite without sweeps is returned as it is.
        """
        return sweeps.expand(self)

    @model_validator(mode="after")
    def _expand_sweeps(self, info: ValidationInfo) -> Suite:
        if isinstance(info.context, dict) and info.context.get(DEFER_REFERENCES):
            return self  # the loader expands after reporting problems by the file's indexes
        return self.expand_sweeps()

    @model_validator(mode="after")
    def _check_references(self, info: ValidationInfo) -> Suite:
        # The loader defers these checks to report each one with its own path and line.
        if isinstance(info.context, dict) and info.context.get(DEFER_REFERENCES):
            return self
        problems = reference_problems(SuiteOutline.of(self))
        if problems:
            raise ValueError("; ".join(f"{loc_to_path(p.loc)}: {p.message}" for p in problems))
        return self
