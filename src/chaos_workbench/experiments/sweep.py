"""``sweep:`` and ``faults:`` in a suite: the checks and the expansion, apart from the schema.

A sweep varies one parameter of an experiment's fault over a list of values; each value
must validate as that field of that fault, and becomes an ordinary experiment named
``name[parameter=value]`` (see ``Suite.expand_sweeps``), so any scheduler runs it like
the others. A compound experiment's faults (``faults:``) each start at ``at_s`` and hold
for their ``duration_s``; both must fit in the experiment's fault phase.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from chaos_workbench.faults import FaultParams
from chaos_workbench.model import SweepPoint, SweepValue

if TYPE_CHECKING:  # the schema imports this module
    from chaos_workbench.experiments.schema import ExperimentSpec, Suite

__all__ = [
    "MAX_SWEEP_VALUES",
    "expand",
    "expanded_name",
    "held_at_once",
    "offset_errors",
    "raw_faults",
    "schedule_errors",
    "sweep_error",
    "sweep_errors",
    "swept",
]

MAX_SWEEP_VALUES = 50  # each value is a whole experiment: baseline, fault and recovery
_EPSILON_S = 1e-9  # 0.1 + 0.2 must still fit in a 0.3 s phase


def _error(kind: str, message: str, loc: tuple[str | int, ...], value: object) -> InitErrorDetails:
    return {"type": PydanticCustomError(kind, message), "loc": loc, "input": value}


def swept(
    fault: FaultParams, parameter: str, value: SweepValue, context: object = None
) -> FaultParams:
    """``fault`` with ``parameter`` set to ``value``, validated by the fault's own model."""
    data: dict[str, Any] = fault.model_dump(by_alias=True, exclude_unset=True)
    data[parameter] = value
    return type(fault).model_validate(data, context=context)


def sweep_errors(
    fault: FaultParams, sweep: Mapping[str, Sequence[SweepValue]], context: object = None
) -> list[InitErrorDetails]:
    """Why ``sweep`` does not fit ``fault``: one error per mistake, located under ``sweep``."""
    if len(sweep) != 1:
        names = ", ".join(sweep) or "none"
        message = f"sweep exactly one parameter of the fault (got {len(sweep)}: {names})"
        return [_error("sweep_parameters", message, (), dict(sweep))]
    ((parameter, values),) = sweep.items()
    fields = sorted(n for n in type(fault).model_fields if n != "type")
    if parameter not in fields:
        message = f"{parameter!r} is not a parameter of the {fault.type} fault (one of: " + (
            ", ".join(fields) + ")"
        )
        return [_error("sweep_parameter", message, (parameter,), parameter)]
    errors: list[InitErrorDetails] = []
    seen: list[SweepValue] = []
    for index, value in enumerate(values):
        loc = (parameter, index)
        if value in seen:
            errors.append(_error("sweep_value", f"{value!r} is listed twice", loc, value))
            continue
        seen.append(value)
        try:
            swept(fault, parameter, value, context)
        except ValidationError as exc:
            message = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
            errors.append(_error("sweep_value", f"as {parameter}: {message}", loc, value))
    return errors


def expanded_name(name: str, parameter: str, value: SweepValue) -> str:
    """The experiment that runs one value: ``db-latency[latency_ms=200]``."""
    return f"{name}[{parameter}={value}]"


def offset_errors(
    schedule: Sequence[tuple[float, float | None]], fault_s: float
) -> list[InitErrorDetails]:
    """Faults (``at_s``, ``duration_s``) that do not fit in a ``fault_s`` fault phase.

    Refused when the suite is loaded, so a run never holds a fault past the phase whose
    windows are judged as "under fault".
    """
    errors: list[InitErrorDetails] = []
    for index, (at_s, duration_s) in enumerate(schedule):
        if at_s >= fault_s:
            message = f"starts at {at_s:g} s, when the {fault_s:g} s fault phase is over"
            errors.append(_error("fault_offset", message, (index, "at_s"), at_s))
        elif duration_s is not None and at_s + duration_s > fault_s + _EPSILON_S:
            message = (
                f"at_s {at_s:g} + duration_s {duration_s:g} ends after the {fault_s:g} s "
                "fault phase (shorten it, or raise the experiment's fault_s)"
            )
            errors.append(_error("fault_offset", message, (index, "duration_s"), duration_s))
    return errors


def held_at_once(schedule: Sequence[tuple[float, float | None]], fault_s: float) -> int:
    """The largest number of the schedule's faults held at the same moment."""
    edges: list[tuple[float, int]] = []
    for at_s, duration_s in schedule:
        end_s = fault_s if duration_s is None else min(at_s + duration_s, fault_s)
        edges += [(at_s, 1), (end_s, -1)]
    held = peak = 0
    for _, step in sorted(edges):  # an end sorts before a start at the same instant
        held += step
        peak = max(peak, held)
    return peak


def sweep_error(message: str, kind: str = "sweep") -> InitErrorDetails:
    """An error at the place the caller locates (``loc`` is filled in by the caller)."""
    return _error(kind, message, (), None)


def schedule_errors(suite: Suite) -> list[InitErrorDetails]:
    """Every compound experiment's faults fit its fault phase, and the suite's blast radius
    allows as many faults held at once as the schedule holds."""
    errors: list[InitErrorDetails] = []
    for index, spec in enumerate(suite.experiments):
        if not spec.faults:
            continue
        fault_s = spec.fault_s or suite.defaults.fault_s
        timing = [(f.at_s, f.fault.duration_s) for f in spec.faults]
        for error in offset_errors(timing, fault_s):
            error["loc"] = ("experiments", index, "faults", *error["loc"])
            errors.append(error)
        held = held_at_once(timing, fault_s)
        allowed = suite.blast_radius.max_concurrent_faults
        if held > allowed:
            message = (
                f"holds {held} faults at once; blast_radius.max_concurrent_faults allows {allowed}"
            )
            errors.append(
                _error("fault_concurrency", message, ("experiments", index, "faults"), held)
            )
    return errors


def expand(suite: Suite) -> Suite:
    """``suite`` with each sweep experiment replaced by one experiment per value."""
    if all(e.sweep is None for e in suite.experiments):
        return suite
    expanded: list[ExperimentSpec] = []
    for spec in suite.experiments:
        if spec.sweep is None or spec.fault is None:
            expanded.append(spec)
            continue
        ((parameter, values),) = spec.sweep.items()
        for index, value in enumerate(values):
            point = SweepPoint(sweep=spec.name, parameter=parameter, value=value, index=index)
            expanded.append(spec.sweep_value(point, swept(spec.fault, parameter, value)))
    return suite.model_copy(update={"experiments": tuple(expanded)})


def raw_faults(experiment: Mapping[str, object]) -> tuple[list[object], bool]:
    """An experiment mapping's faults as written — ``fault``, or each of ``faults`` without
    its ``at_s`` — and whether it is compound (for checks on a file that did not validate)."""
    items = experiment.get("faults")
    if not isinstance(items, list):
        return [experiment.get("fault")], False
    strip = [
        {k: v for k, v in i.items() if k != "at_s"} if isinstance(i, dict) else i for i in items
    ]
    return strip, True
