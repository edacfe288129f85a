"""Run Chaos Toolkit experiments as they are, on our own fault proxy (see docs/chaos-toolkit.md).

``is_chaostoolkit_experiment(path)`` tells one from our suites; ``run_chaostoolkit(path,
...)`` runs it, writes Chaos Toolkit's journal and returns ``chaos run``'s exit code (2
when the file is not a valid experiment, every problem as ``file:line: path: message``).
"""

from __future__ import annotations

from chaos_workbench.chaostoolkit.entry import run_chaostoolkit
from chaos_workbench.chaostoolkit.loader import (
    LoadedExperiment,
    is_chaostoolkit_experiment,
    load_experiment,
)
from chaos_workbench.chaostoolkit.runner import HYPOTHESIS_STRATEGIES, ROLLBACK_STRATEGIES

__all__ = [
    "HYPOTHESIS_STRATEGIES",
    "ROLLBACK_STRATEGIES",
    "LoadedExperiment",
    "is_chaostoolkit_experiment",
    "load_experiment",
    "run_chaostoolkit",
]
