"""The public vocabulary of Chaos Workbench: fault types, impact levels, results and grades.

These names come from the design sketch the product grew from; they are kept stable as the
library's public API. Everything here is plain, frozen data with no I/O: the engine fills it
from real measurements, the reports read it.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

__all__ = [
    "GRADE_THRESHOLDS",
    "BreakingPoint",
    "ControlComparison",
    "ExperimentStatus",
    "FaultInterval",
    "FaultResult",
    "FaultType",
    "ImpactLevel",
    "PhaseStats",
    "ResilienceScore",
    "RunRecord",
    "SweepOutcome",
    "SweepPoint",
    "SweepValue",
    "TimelineEvent",
    "WindowSummary",
    "grade_for",
]


class FaultType(enum.StrEnum):
    """What kind of failure a fault imitates (the design sketch's categories, extended)."""

    LATENCY = "latency"
    ERROR = "error"
    RESOURCE_EXHAUSTION = "resource_exhaustion"
    DEPENDENCY_DOWN = "dependency_down"
    NETWORK = "network"
    PROCESS = "process"
    CLOCK = "clock"


class ImpactLevel(enum.StrEnum):
    """How badly a fault hurt the service, from the SLIs measured while it was active.

    Ordered by severity: ``NONE < DEGRADED < PARTIAL_OUTAGE < FULL_OUTAGE``, so a test can
    say ``assert result.impact <= ImpactLevel.DEGRADED``. (Being a ``str`` too, it would
    otherwise compare as text, where "none" > "degraded".) Against a plain string it
    compares as the string it is.
    """

    NONE = "none"
    DEGRADED = "degraded"
    PARTIAL_OUTAGE = "partial_outage"
    FULL_OUTAGE = "full_outage"

    @property
    def rank(self) -> int:
        """Severity as an integer, 0 (none) to 3 (full outage)."""
        return _IMPACT_ORDER.index(self)

    def __lt__(self, other: object) -> bool:
        if isinstance(other, ImpactLevel):
            return self.rank < other.rank
        return str.__lt__(self, other)  # type: ignore[operator]

    def __le__(self, other: object) -> bool:
        if isinstance(other, ImpactLevel):
            return self.rank <= other.rank
        return str.__le__(self, other)  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        if isinstance(other, ImpactLevel):
            return self.rank > other.rank
        return str.__gt__(self, other)  # type: ignore[operator]

    def __ge__(self, other: object) -> bool:
        if isinstance(other, ImpactLevel):
            return self.rank >= other.rank
        return str.__ge__(self, other)  # type: ignore[operator]

    def worse_than(self, other: ImpactLevel) -> bool:
        """True when this level is more severe than ``other``."""
        return self.rank > other.rank


_IMPACT_ORDER = (
    ImpactLevel.NONE,
    ImpactLevel.DEGRADED,
    ImpactLevel.PARTIAL_OUTAGE,
    ImpactLevel.FULL_OUTAGE,
)


class ExperimentStatus(enum.StrEnum):
    """How an experiment ended."""

    PASSED = "passed"  # ran, and met its expectations
    FAILED = "failed"  # ran, and missed an expectation (impact too high, recovered too late)
    INCONCLUSIVE = "inconclusive"  # steady state did not hold before injection: nothing injected
    ABORTED = "aborted"  # a guardrail or the operator stopped it; the fault was reverted
    ERROR = "error"  # the fault could not be applied or the run broke; reason says why


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_computed(cls, data: Any) -> Any:
        """Accept our own JSON back: computed fields are dumped, and recomputed on load."""
        if isinstance(data, dict) and cls.model_computed_fields:
            return {k: v for k, v in data.items() if k not in cls.model_computed_fields}
        return data


class PhaseStats(_Frozen):
    """What traffic measured during one phase of an experiment (baseline, fault or recovery)."""

    requests: int = Field(ge=0)
    successes: int = Field(ge=0)
    errors_by_kind: dict[str, int] = Field(default_factory=dict)
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    duration_s: float = Field(ge=0)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def success_ratio(self) -> float | None:
        """Share of requests that succeeded, or None when nothing was sent."""
        return self.successes / self.requests if self.requests else None


class WindowSummary(_Frozen):
    """One measurement window as the reports see it (``t_s`` from the experiment's start)."""

    t_s: float
    phase: str  # "baseline", "fault", "recovery"
    requests: int = Field(ge=0)
    successes: int = Field(ge=0)
    p50_ms: float | None = None
    p99_ms: float | None = None
    slo_ok: bool | None = None  # None: empty window, nothing to judge


class TimelineEvent(_Frozen):
    """Something that happened during an experiment, on its clock (``t_s`` from its start)."""

    t_s: float
    kind: str  # "baseline_start", "inject", "injected", "revert", "reverted", "recovered", ...
    message: str = ""


SweepValue = int | float | str
"""One value of a swept fault parameter, as written in the suite (200, 0.05, "both")."""


class SweepPoint(_Frozen):
    """Which sweep an experiment was expanded from, and the value it runs.

    A suite's ``sweep:`` becomes one ordinary experiment per value (``db[latency_ms=200]``);
    this is how each of them, and its result, still knows its sweep.
    """

    sweep: str  # the experiment's name as written in the suite
    parameter: str  # the fault's field that varies, e.g. "latency_ms"
    value: SweepValue
    index: int = Field(ge=0)  # position in the sweep's values as written


class FaultInterval(_Frozen):
    """When one fault of an experiment was held, on the experiment's clock.

    ``start_ms`` is when its ``apply()`` was called and ``end_ms`` when its revert
    returned, both from the experiment's start (the origin of the timeline's ``t_s``);
    ``end_ms`` is None when the revert failed and the lease was left to the watchdog.
    """

    fault: str  # the fault's kind, e.g. "latency"
    target: str = ""  # what it acts on: proxies and processes it names, or the chosen target
    description: str = ""
    start_ms: float = Field(ge=0)
    end_ms: float | None = None
    error: str | None = None  # why it could not be applied or reverted


class ControlComparison(_Frozen):
    """An experiment's fault phase against the control copy over the same interval.

    ``worse_than_control``: the baseline's three tests with the control's windows as the
    reference; ``control_degraded``: the same tests on the control against its own windows
    before the interval. ``interference``: the control degraded too (a shared resource, a
    busy machine). ``trusted`` names the reference relied on, ``explanation`` why
    (``docs/analysis.md``).
    """

    interval_s: float = Field(ge=0)
    experiment_requests: int = Field(ge=0)
    control_requests: int = Field(ge=0)
    control_success_ratio: float | None = None
    control_p99_ms: float | None = None  # the control's, over the same interval
    worse_than_control: bool | None = None  # None: too few requests to tell
    worse_than_baseline: bool | None = None
    control_degraded: bool | None = None
    interference: bool = False
    trusted: str = "control"  # "control", "baseline" or "agree"
    explanation: str = ""
    findings: tuple[str, ...] = ()


class FaultResult(_Frozen):
    """The measured outcome of one experiment: the design sketch's result, with evidence.

    ``recovery_time_ms`` is measured from the end of the revert to the recovery instant:
    the first request (by intended send time) from which the SLO held over the stable
    streak's length; it is None when the service did not recover within the recovery
    timeout (or the experiment did not run). ``revert_ms`` is how long the revert took (a
    restart, a thaw); ``disruption_ms`` runs from the first request that broke the SLO
    after injection to the recovery instant — what users saw, the revert included;
    ``error_burst_ms`` from the first to the last failed request in that time (how long
    requests failed; a self-healing system's failover). The rules are in ``docs/analysis.md``.
    """

    name: str
    fault_type: FaultType
    description: str
    status: ExperimentStatus
    recovered: bool
    impact: ImpactLevel
    recovery_time_ms: float | None = None
    revert_ms: float | None = None
    disruption_ms: float | None = None
    error_burst_ms: float | None = None
    reason: str = ""
    details: str = ""
    weight: float = Field(default=1.0, gt=0)
    phases: dict[str, PhaseStats] = Field(default_factory=dict)
    findings: tuple[str, ...] = ()  # statistics and observations, one sentence each
    expectation: str = ""  # e.g. "impact <= degraded, recovered within 10 s"
    timeline: tuple[WindowSummary, ...] = ()
    events: tuple[TimelineEvent, ...] = ()
    measurements_reliable: bool = True  # False when the load driver fell behind its rate
    copy_name: str | None = None  # parallel runs: the copy it ran on ("copy-2"); else None
    scope: str | None = None  # "copy" or "host": what the fault reaches (faults.registry)
    ran_alone: bool | None = None  # True when a host-wide fault ran with no other experiment
    control: ControlComparison | None = None
    faults: tuple[FaultInterval, ...] = ()  # each fault's interval (empty in old records)
    sweep: SweepPoint | None = None  # set when the experiment is one value of a sweep

    @property
    def passed(self) -> bool:
        """True when the experiment ran and met its expectations."""
        return self.status is ExperimentStatus.PASSED

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fault(self) -> str:
        """The design sketch's name for ``fault_type`` (kept in the JSON report)."""
        return self.fault_type.value


GRADE_THRESHOLDS: tuple[tuple[float, str], ...] = (
    (95.0, "A"),
    (80.0, "B"),
    (60.0, "C"),
    (40.0, "D"),
)
"""Score (percent) at or above which each grade is given; below the last one is F."""


def grade_for(score_percent: float) -> str:
    """The letter grade for a score in percent (95/80/60/40 → A/B/C/D, else F)."""
    if not 0.0 <= score_percent <= 100.0:
        raise ValueError(f"score must be between 0 and 100 percent, got {score_percent}")
    for threshold, letter in GRADE_THRESHOLDS:
        if score_percent >= threshold:
            return letter
    return "F"


class ResilienceScore(_Frozen):
    """The suite's scorecard: counts, the weighted pass rate and its grade.

    ``recovery_rate`` is the weighted share (percent) of experiments that passed; with every
    experiment at the default expectations (``max_impact: full_outage``, no deadline) it is
    exactly the design sketch's plain recovery rate. Inconclusive experiments do not count.
    """

    total: int = Field(ge=0)
    recovered: int = Field(ge=0)
    degraded: int = Field(ge=0)
    outages: int = Field(ge=0)
    passed: int = Field(ge=0)
    inconclusive: int = Field(default=0, ge=0)
    recovery_rate: float = Field(ge=0, le=100)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def grade(self) -> str:
        """A–F for ``recovery_rate`` (see :data:`GRADE_THRESHOLDS`)."""
        return grade_for(self.recovery_rate)

    @classmethod
    def from_results(cls, results: Sequence[FaultResult]) -> ResilienceScore:
        """Score a run. Raises ``ValueError`` when no experiment produced a verdict."""
        counted = [r for r in results if r.status is not ExperimentStatus.INCONCLUSIVE]
        if not counted:
            raise ValueError(
                "cannot grade a run with no conclusive experiments: "
                "add an experiment, or fix the steady state so that experiments can run"
            )
        total_weight = sum(r.weight for r in counted)
        passed_weight = sum(r.weight for r in counted if r.passed)
        return cls(
            total=len(counted),
            recovered=sum(1 for r in counted if r.recovered),
            degraded=sum(1 for r in counted if r.impact is ImpactLevel.DEGRADED),
            outages=sum(
                1
                for r in counted
                if r.impact in (ImpactLevel.PARTIAL_OUTAGE, ImpactLevel.FULL_OUTAGE)
            ),
            passed=sum(1 for r in counted if r.passed),
            inconclusive=len(results) - len(counted),
            recovery_rate=round(100.0 * passed_weight / total_weight, 2),
        )


class SweepOutcome(_Frozen):
    """One value of a sweep and what its experiment showed (``passed`` None: no verdict)."""

    value: SweepValue
    experiment: str
    status: ExperimentStatus
    impact: ImpactLevel
    passed: bool | None
    fault_p99_ms: float | None = None
    fault_success_ratio: float | None = None


class BreakingPoint(_Frozen):
    """Where a sweep stops meeting its experiment's expectations.

    ``tolerated`` is the largest value that still met them and ``breaks_at`` the smallest
    that did not; either is None when no value was on that side. ``monotone`` is False when
    a value passed above one that failed (then the pair is the first crossing, and
    ``summary`` says so plainly). ``analysis/breaking_point.py`` has the rules.
    """

    sweep: str
    parameter: str
    tolerated: SweepValue | None = None
    breaks_at: SweepValue | None = None
    reached: bool = False  # some value failed
    monotone: bool = True
    summary: str = ""
    points: tuple[SweepOutcome, ...] = ()


class RunRecord(_Frozen):
    """Everything one run produced: the single input of every report and of the history."""

    run_id: str
    service: str
    suite_path: str | None = None
    started_at: str  # ISO 8601, UTC, for display
    finished_at: str | None = None
    duration_s: float = 0.0
    seed: int
    results: tuple[FaultResult, ...] = ()
    score: ResilienceScore | None = None  # None when no experiment was conclusive
    warmup_s: float | None = None  # how long the service took to reach steady state first
    interrupted: bool = False
    notes: tuple[str, ...] = ()
    parallel: int | None = None  # experiment copies run at once (None: sequential)
    breaking_points: tuple[BreakingPoint, ...] = ()  # one per sweep (empty in old records)

    # The design sketch's report() keys, at the top level of the JSON report too.
    @computed_field  # type: ignore[prop-decorator]
    @property
    def experiments(self) -> int:
        """How many experiments ran (the sketch's ``experiments``)."""
        return len(self.results)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def recovery_rate(self) -> float | None:
        """The score's weighted pass rate in percent; None when nothing was conclusive."""
        return None if self.score is None else self.score.recovery_rate

    @computed_field  # type: ignore[prop-decorator]
    @property
    def grade(self) -> str | None:
        """A–F, or None when nothing was conclusive."""
        return None if self.score is None else self.score.grade
