"""Is the fault phase really different from the baseline? One verdict for the impact rules.

Combines the two statistical comparisons of :mod:`chaos_workbench.analysis.statistics`
(latency shift, error-ratio change) into the single question the impact classification
asks, plus the sentences the report shows.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from chaos_workbench.analysis.statistics import error_ratio_change, latency_shift
from chaos_workbench.traffic.window import Window

__all__ = ["ChangeAssessment", "assess_change"]


@dataclass(frozen=True, slots=True)
class ChangeAssessment:
    """``significant`` is None when there were too few samples to tell."""

    significant: bool | None
    findings: tuple[str, ...]


def assess_change(
    baseline: Sequence[Window], fault: Sequence[Window], *, rng: random.Random, alpha: float = 0.05
) -> ChangeAssessment:
    """Compare fault-phase windows with baseline windows (latency and error ratio)."""
    latency = latency_shift(baseline, fault, alpha=alpha, rng=rng)
    errors = error_ratio_change(baseline, fault, alpha=alpha)
    verdicts = [v for v in (latency.significant, errors.significant) if v is not None]
    significant = any(verdicts) if verdicts else None
    return ChangeAssessment(
        significant=significant, findings=(latency.describe(), errors.describe())
    )
