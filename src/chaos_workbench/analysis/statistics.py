"""Baseline vs fault: is the change real or noise? Pure functions over windows, via scipy.

* Latency: the Mann–Whitney U test (no normality assumed: latencies are skewed) and the
  Hodges–Lehmann shift (median of all fault − baseline differences) with its
  distribution-free confidence interval (order statistics of those differences, the
  interval that inverts the same test).
* Error ratio: the difference of two proportions with Newcombe's hybrid score interval
  (method 10, built from Wilson intervals, which scipy computes); significant when the
  interval excludes 0. Fisher's exact p-value is reported alongside.

Samples come from the windows' HdrHistograms: a seeded, exact subsample without replacement
(multivariate hypergeometric over the histogram's buckets), at most ``max_samples`` per
side, so the pairwise work stays bounded (n·m ≤ 4·10⁶) and a run can be replayed.

Caveats, stated where results are read: values are the histograms' bucket values (0.1 %
resolution); requests in consecutive windows are not independent (a slow period is slow for
many), so p-values are optimistic; ``min_shift_ms`` lets a caller ignore shifts too small to
matter. ``significant`` is None when a side has fewer than ``MIN_SAMPLES`` values.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from chaos_workbench.traffic.recorder import histogram_counts
from chaos_workbench.traffic.window import Window

__all__ = [
    "MIN_SAMPLES",
    "ErrorRatioChange",
    "LatencyShift",
    "error_ratio_change",
    "latency_samples_ms",
    "latency_shift",
]

MIN_SAMPLES = 8  # below this per side, a rank test cannot reach p < 0.05 reliably
_MAX_SAMPLES = 2000


def _stats() -> ModuleType:
    """``scipy.stats``, imported on first use: it takes ~0.7 s to load, and commands that
    compute no statistic (``cwb validate``, ``cwb cleanup``) should not wait for it."""
    from scipy import stats

    module: ModuleType = stats
    return module


def latency_samples_ms(
    windows: Sequence[Window], *, rng: random.Random, max_samples: int = _MAX_SAMPLES
) -> np.ndarray:
    """Latencies (ms) recorded in ``windows``: all of them, or a seeded exact subsample."""
    parts = [histogram_counts(w.histogram) for w in windows]
    if not parts or not any(v.size for v, _ in parts):
        return np.empty(0, dtype=np.float64)
    value_arr = np.concatenate([v for v, _ in parts]).astype(np.float64) / 1000.0
    count_arr = np.concatenate([c for _, c in parts])
    total = int(count_arr.sum())
    if total > max_samples:
        generator = np.random.default_rng(rng.getrandbits(64))
        count_arr = generator.multivariate_hypergeometric(count_arr, max_samples)
    return np.repeat(value_arr, count_arr)


@dataclass(frozen=True, slots=True)
class LatencyShift:
    """How fault-phase latency differs from baseline latency."""

    baseline_n: int
    fault_n: int
    baseline_p50_ms: float | None
    fault_p50_ms: float | None
    shift_ms: float | None  # Hodges–Lehmann estimate, fault − baseline
    ci_low_ms: float | None
    ci_high_ms: float | None
    p_value: float | None
    confidence: float
    significant: bool | None  # None: too few samples to tell

    def describe(self) -> str:
        """One sentence, e.g. "p50 +482 ms (95 % CI 478–486), significant"."""
        if self.significant is None or self.shift_ms is None:
            return (
                f"latency: too few samples to compare "
                f"(baseline {self.baseline_n}, fault {self.fault_n})"
            )
        if not self.significant:
            return "latency: no significant change"
        level = round(self.confidence * 100)
        return (
            f"p50 {_signed_ms(self.shift_ms)} ({level} % CI {_ms(self.ci_low_ms)}–"
            f"{_ms(self.ci_high_ms)}), significant"
        )


def latency_shift(
    baseline: Sequence[Window],
    fault: Sequence[Window],
    *,
    alpha: float = 0.05,
    rng: random.Random,
    min_shift_ms: float = 0.0,
    max_samples: int = _MAX_SAMPLES,
) -> LatencyShift:
    """Mann–Whitney U + Hodges–Lehmann shift of fault vs baseline latency."""
    base = latency_samples_ms(baseline, rng=rng, max_samples=max_samples)
    hit = latency_samples_ms(fault, rng=rng, max_samples=max_samples)
    p50s = (
        float(np.median(base)) if base.size else None,
        float(np.median(hit)) if hit.size else None,
    )
    if base.size < MIN_SAMPLES or hit.size < MIN_SAMPLES:
        return LatencyShift(base.size, hit.size, *p50s, None, None, None, None, 1 - alpha, None)
    result = _stats().mannwhitneyu(hit, base, alternative="two-sided", method="asymptotic")
    p_value = float(result.pvalue)
    diffs = np.subtract.outer(hit, base).ravel()
    shift, low, high = _hodges_lehmann(diffs, hit.size, base.size, alpha)
    significant = p_value < alpha and not (low <= 0.0 <= high) and abs(shift) >= min_shift_ms
    return LatencyShift(
        base.size, hit.size, *p50s, shift, low, high, p_value, 1 - alpha, significant
    )


def _hodges_lehmann(diffs: np.ndarray, n: int, m: int, alpha: float) -> tuple[float, float, float]:
    """The shift (median of the differences) and its distribution-free CI.

    The CI is the pair of order statistics k and nm−k+1 of the differences, with ``k`` the
    Mann–Whitney critical value (normal approximation, fine for n, m ≥ 8). A partial sort
    (``np.partition``) finds the few order statistics needed in linear time.
    """
    z = float(_stats().norm.ppf(1 - alpha / 2))
    nm = n * m
    k = max(math.floor(nm / 2 - z * math.sqrt(nm * (n + m + 1) / 12)), 1)
    middle = [(nm - 1) // 2, nm // 2]
    wanted = sorted({k - 1, nm - k, *middle})
    part = np.partition(diffs, wanted)
    shift = float((part[middle[0]] + part[middle[1]]) / 2)
    return shift, float(part[k - 1]), float(part[nm - k])


@dataclass(frozen=True, slots=True)
class ErrorRatioChange:
    """How the share of failed requests differs between the phases."""

    baseline_errors: int
    baseline_requests: int
    fault_errors: int
    fault_requests: int
    difference: float | None  # fault ratio − baseline ratio
    ci_low: float | None
    ci_high: float | None
    p_value: float | None  # Fisher's exact test
    confidence: float
    significant: bool | None

    @property
    def baseline_ratio(self) -> float | None:
        return _ratio(self.baseline_errors, self.baseline_requests)

    @property
    def fault_ratio(self) -> float | None:
        return _ratio(self.fault_errors, self.fault_requests)

    def describe(self) -> str:
        """One sentence, e.g. "errors 0.1 % → 80.2 % (+80.1 points, 95 % CI 78.0–82.1), significant"."""
        if self.significant is None or self.difference is None:
            return (
                f"errors: too few requests to compare "
                f"(baseline {self.baseline_requests}, fault {self.fault_requests})"
            )
        if not self.significant:
            return "errors: no significant change"
        assert self.ci_low is not None
        assert self.ci_high is not None
        level = round(self.confidence * 100)
        return (
            f"errors {_pct(self.baseline_ratio)} → {_pct(self.fault_ratio)} "
            f"({self.difference * 100:+.1f} points, {level} % CI "
            f"{self.ci_low * 100:.1f}–{self.ci_high * 100:.1f}), significant"
        )


def error_ratio_change(
    baseline: Sequence[Window], fault: Sequence[Window], *, alpha: float = 0.05
) -> ErrorRatioChange:
    """The change in error ratio with Newcombe's hybrid score interval (scipy's Wilson)."""
    b_req = sum(w.requests for w in baseline)
    b_err = b_req - sum(w.successes for w in baseline)
    f_req = sum(w.requests for w in fault)
    f_err = f_req - sum(w.successes for w in fault)
    confidence = 1 - alpha
    if b_req < MIN_SAMPLES or f_req < MIN_SAMPLES:
        return ErrorRatioChange(
            b_err, b_req, f_err, f_req, None, None, None, None, confidence, None
        )
    p1, p2 = b_err / b_req, f_err / f_req
    l1, u1 = _wilson(b_err, b_req, confidence)
    l2, u2 = _wilson(f_err, f_req, confidence)
    diff = p2 - p1
    low = diff - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    high = diff + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    table = [[f_err, f_req - f_err], [b_err, b_req - b_err]]
    p_value = float(_stats().fisher_exact(table).pvalue)
    significant = not (low <= 0.0 <= high)
    return ErrorRatioChange(
        b_err, b_req, f_err, f_req, diff, low, high, p_value, confidence, significant
    )


def _wilson(k: int, n: int, confidence: float) -> tuple[float, float]:
    interval = _stats().binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def _ratio(k: int, n: int) -> float | None:
    return k / n if n else None


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f} %"


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.2g}"


def _signed_ms(value: float) -> str:
    return ("+" if value >= 0 else "-") + _ms(abs(value)) + " ms"
