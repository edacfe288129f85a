"""Run history in SQLite (``history``) and comparison of two runs (``compare``)."""

from __future__ import annotations

from chaos_workbench.store.compare import Change, ExperimentDiff, RunComparison, compare
from chaos_workbench.store.history import (
    DEFAULT_DB_PATH,
    AmbiguousRunId,
    RunNotFound,
    RunStore,
    RunSummary,
    StoreError,
)

__all__ = [
    "DEFAULT_DB_PATH",
    "AmbiguousRunId",
    "Change",
    "ExperimentDiff",
    "RunComparison",
    "RunNotFound",
    "RunStore",
    "RunSummary",
    "StoreError",
    "compare",
]
