"""Chaos Workbench: prove, with evidence, how a system behaves when its dependencies fail."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaos_workbench._version import __version__
from chaos_workbench.errors import WorkbenchError
from chaos_workbench.model import (
    GRADE_THRESHOLDS,
    BreakingPoint,
    ControlComparison,
    ExperimentStatus,
    FaultInterval,
    FaultResult,
    FaultType,
    ImpactLevel,
    PhaseStats,
    ResilienceScore,
    RunRecord,
    SweepOutcome,
    SweepPoint,
    SweepValue,
    TimelineEvent,
    WindowSummary,
    grade_for,
)

if TYPE_CHECKING:  # typed names for checkers; imported lazily at run time (below)
    from chaos_workbench.workbench import ChaosWorkbench, Experiment

_LAZY = {"ChaosWorkbench", "Experiment"}


def __getattr__(name: str) -> object:
    # The workbench pulls in the engine, the proxy client and the load driver: import them
    # only when asked, so `import chaos_workbench` stays cheap and free of import cycles.
    if name in _LAZY:
        from chaos_workbench import workbench

        return getattr(workbench, name)
    raise AttributeError(f"module 'chaos_workbench' has no attribute {name!r}")


__all__ = [
    "GRADE_THRESHOLDS",
    "BreakingPoint",
    "ChaosWorkbench",
    "ControlComparison",
    "Experiment",
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
    "WorkbenchError",
    "__version__",
    "grade_for",
]
