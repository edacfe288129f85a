"""Is the fault phase really *worse* than the baseline? One verdict for the impact rules.

The impact classification asks one question when the SLO broke during a fault: was that the
fault, or noise? Three one-sided comparisons answer it, each a real effect only when it is
statistically significant *and* in the harmful direction (a faster service under a fault
is not impact):

* median latency went up (Mann–Whitney U, Hodges–Lehmann shift; ``analysis.statistics``);
* the error ratio went up (Newcombe interval on the difference; ``analysis.statistics``);
* more requests were slower than the SLO's p99 bound (one-sided Fisher exact test on the
  counts above the bound). This catches a tail that grew while the median stayed put,
  which the rank test alone can miss.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from chaos_workbench.analysis.spec import Slo
from chaos_workbench.analysis.statistics import error_ratio_change, latency_shift
from chaos_workbench.traffic.window import Window, merge_windows

__all__ = ["ChangeAssessment", "SlowShareChange", "assess_change", "slow_share_change"]

MIN_REQUESTS = 20  # below this on either side, a proportion test says nothing useful


@dataclass(frozen=True, slots=True)
class SlowShareChange:
    """Share of requests slower than ``threshold_ms``, baseline vs fault."""

    threshold_ms: float
    baseline_slow: int
    baseline_requests: int
    fault_slow: int
    fault_requests: int
    p_value: float | None
    significant: bool | None

    def describe(self) -> str:
        if self.significant is None:
            return f"slower than {self.threshold_ms:g} ms: too few requests to tell"
        base = self.baseline_slow / self.baseline_requests
        hit = self.fault_slow / self.fault_requests
        verdict = "significant" if self.significant else "no significant increase"
        return f"slower than {self.threshold_ms:g} ms: {base:.1%} → {hit:.1%}, {verdict}"


def _count_slower(window: Window, threshold_ms: float) -> int:
    threshold_us = threshold_ms * 1000.0
    return sum(
        item.count_at_value_iterated_to
        for item in window.histogram.get_recorded_iterator()
        if item.value_iterated_to > threshold_us
    )


def slow_share_change(
    baseline: Sequence[Window], fault: Sequence[Window], *, threshold_ms: float, alpha: float
) -> SlowShareChange:
    """One-sided test: are more fault-phase requests slower than ``threshold_ms``?"""
    base, hit = merge_windows(baseline), merge_windows(fault)
    base_n, hit_n = base.histogram.get_total_count(), hit.histogram.get_total_count()
    base_slow, hit_slow = _count_slower(base, threshold_ms), _count_slower(hit, threshold_ms)
    if base_n < MIN_REQUESTS or hit_n < MIN_REQUESTS:
        return SlowShareChange(threshold_ms, base_slow, base_n, hit_slow, hit_n, None, None)
    table = [[hit_slow, hit_n - hit_slow], [base_slow, base_n - base_slow]]
    from scipy.stats import fisher_exact  # ~0.7 s to import: only when a run computes one

    p_value = float(fisher_exact(table, alternative="greater").pvalue)
    return SlowShareChange(
        threshold_ms, base_slow, base_n, hit_slow, hit_n, p_value, p_value < alpha
    )


@dataclass(frozen=True, slots=True)
class ChangeAssessment:
    """``significant`` is None when there were too few samples to tell."""

    significant: bool | None
    findings: tuple[str, ...]


def assess_change(
    baseline: Sequence[Window],
    fault: Sequence[Window],
    *,
    slo: Slo,
    rng: random.Random,
    alpha: float = 0.05,
) -> ChangeAssessment:
    """Compare fault-phase windows with baseline windows; True when it got worse."""
    latency = latency_shift(baseline, fault, alpha=alpha, rng=rng)
    errors = error_ratio_change(baseline, fault, alpha=alpha)
    verdicts: list[bool | None] = [
        None
        if latency.significant is None
        else bool(latency.significant and (latency.shift_ms or 0) > 0),
        None
        if errors.significant is None
        else bool(errors.significant and (errors.difference or 0) > 0),
    ]
    findings = [latency.describe(), errors.describe()]
    if slo.p99_ms is not None:
        slow = slow_share_change(baseline, fault, threshold_ms=slo.p99_ms, alpha=alpha)
        verdicts.append(slow.significant)
        findings.append(slow.describe())
    known = [v for v in verdicts if v is not None]
    return ChangeAssessment(significant=any(known) if known else None, findings=tuple(findings))
