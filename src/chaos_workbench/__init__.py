"""Chaos Workbench: prove, with evidence, how a system behaves when its dependencies fail."""

from __future__ import annotations

from chaos_workbench.model import (
    GRADE_THRESHOLDS,
    ExperimentStatus,
    FaultResult,
    FaultType,
    ImpactLevel,
    PhaseStats,
    ResilienceScore,
    RunRecord,
    TimelineEvent,
    WindowSummary,
    grade_for,
)

__version__ = "0.1.0"

__all__ = [
    "GRADE_THRESHOLDS",
    "ExperimentStatus",
    "FaultResult",
    "FaultType",
    "ImpactLevel",
    "PhaseStats",
    "ResilienceScore",
    "RunRecord",
    "TimelineEvent",
    "WindowSummary",
    "__version__",
    "grade_for",
]
