"""The breaking point of a sweep: the largest value that still meets the expectations, and
the smallest that does not.

Pure functions over the results of one sweep's experiments (one per value). The values
are put in ascending order when they are all numbers (a sweep's severity grows with its
value: more latency, a higher error probability) and kept in the order written otherwise.
A value whose experiment gave no verdict (inconclusive, error) is left out of the
judgement and named in the summary: it neither passed nor failed.
"""

from __future__ import annotations

from collections.abc import Sequence

from chaos_workbench.model import (
    BreakingPoint,
    ExperimentStatus,
    FaultResult,
    SweepOutcome,
    SweepValue,
)

__all__ = ["breaking_point", "breaking_points", "outcome_of"]

_VERDICTS = {
    ExperimentStatus.PASSED: True,
    ExperimentStatus.FAILED: False,
    # An abort means a guardrail saw the system break: a failure to meet expectations.
    ExperimentStatus.ABORTED: False,
}


def outcome_of(value: SweepValue, result: FaultResult) -> SweepOutcome:
    """What one value's experiment showed, as the breaking point needs it."""
    fault = result.phases.get("fault")
    return SweepOutcome(
        value=value,
        experiment=result.name,
        status=result.status,
        impact=result.impact,
        passed=_VERDICTS.get(result.status),
        fault_p99_ms=None if fault is None else fault.p99_ms,
        fault_success_ratio=None if fault is None else fault.success_ratio,
    )


def _numeric(value: SweepValue) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ordered(points: Sequence[SweepOutcome]) -> list[SweepOutcome]:
    if all(_numeric(p.value) for p in points):
        return sorted(points, key=lambda p: float(p.value))
    return list(points)


def breaking_point(
    sweep: str, parameter: str, points: Sequence[SweepOutcome], *, unit: str = ""
) -> BreakingPoint:
    """Judge one sweep from its values' outcomes (any order; see the module docstring).

    ``unit`` words the summary ("ms" for ``latency_ms``); the default derives it from the
    parameter's suffix.
    """
    ordered = _ordered(points)
    unit = unit or _unit_of(parameter)
    judged = [p for p in ordered if p.passed is not None]
    first_fail = next((i for i, p in enumerate(judged) if p.passed is False), None)
    tolerated = breaks_at = None
    monotone = True
    if first_fail is not None:
        breaks_at = judged[first_fail].value
        if first_fail > 0:
            tolerated = judged[first_fail - 1].value
        monotone = not any(p.passed for p in judged[first_fail + 1 :])
    elif judged:
        tolerated = judged[-1].value
    summary = _summary(
        sweep, parameter, unit, ordered, judged, tolerated, breaks_at, monotone=monotone
    )
    return BreakingPoint(
        sweep=sweep,
        parameter=parameter,
        tolerated=tolerated,
        breaks_at=breaks_at,
        reached=breaks_at is not None,
        monotone=monotone,
        summary=summary,
        points=tuple(ordered),
    )


def breaking_points(results: Sequence[FaultResult]) -> tuple[BreakingPoint, ...]:
    """One breaking point per sweep among a run's results, in the order sweeps first ran."""
    sweeps: dict[str, tuple[str, list[SweepOutcome]]] = {}
    for result in results:
        if result.sweep is None:
            continue
        entry = sweeps.setdefault(result.sweep.sweep, (result.sweep.parameter, []))
        entry[1].append(outcome_of(result.sweep.value, result))
    return tuple(
        breaking_point(name, parameter, points) for name, (parameter, points) in sweeps.items()
    )


def _unit_of(parameter: str) -> str:
    for suffix, unit in (("_ms", "ms"), ("_s", "s"), ("_bytes", "bytes"), ("_percent", "%")):
        if parameter.endswith(suffix):
            return unit
    return ""


def _show(value: SweepValue | None, parameter: str, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value} {unit}".rstrip() if unit else f"{parameter}={value}"


def _summary(
    sweep: str,
    parameter: str,
    unit: str,
    ordered: Sequence[SweepOutcome],
    judged: Sequence[SweepOutcome],
    tolerated: SweepValue | None,
    breaks_at: SweepValue | None,
    *,
    monotone: bool,
) -> str:
    """One or two plain sentences: the breaking point, or why there is none."""
    if not judged:
        return f"{sweep}: no value gave a verdict, so there is no breaking point."
    if breaks_at is None:
        text = (
            f"{sweep} tolerates every value tried, up to {_show(tolerated, parameter, unit)}: "
            "the breaking point was not reached."
        )
    else:
        impact = next(p.impact for p in judged if p.value == breaks_at)
        at = f"at {_show(breaks_at, parameter, unit)} it is {impact.value.replace('_', ' ')}"
        if tolerated is None:
            text = f"{sweep} fails already at the smallest value tried: {at}."
        else:
            text = f"{sweep} tolerates {_show(tolerated, parameter, unit)}; {at}."
    if not monotone:
        above = [str(p.value) for p in judged if p.passed and _after(p, breaks_at, judged)]
        text += (
            f" Not monotone: {', '.join(above)} passed above a value that failed, so the "
            "boundary is not sharp (noise, or a system that behaves differently there)."
        )
    missing = [str(p.value) for p in ordered if p.passed is None]
    if missing:
        text += f" No verdict for {', '.join(missing)}."
    return text


def _after(
    point: SweepOutcome, breaks_at: SweepValue | None, judged: Sequence[SweepOutcome]
) -> bool:
    values = [p.value for p in judged]
    return breaks_at in values and values.index(point.value) > values.index(breaks_at)
