"""Statistics on synthetic windows with known effects, and on identical samples."""

from __future__ import annotations

import random
from array import array
from types import MappingProxyType

import numpy as np
import pytest

from chaos_workbench.analysis.statistics import (
    error_ratio_change,
    latency_samples_ms,
    latency_shift,
)
from chaos_workbench.traffic.recorder import histogram_of_us
from chaos_workbench.traffic.window import ErrorKind, Window


def windows_of(latencies_ms: np.ndarray, errors: int = 0, per_window: int = 250) -> list[Window]:
    """Windows holding these latencies; ``errors`` of the requests counted as 5xx."""
    out = []
    for i in range(0, len(latencies_ms), per_window):
        chunk = latencies_ms[i : i + per_window]
        failed = min(errors, len(chunk))
        errors -= failed
        out.append(
            Window(
                start_ns=i * 1_000_000,
                duration_ns=250_000_000,
                requests=len(chunk),
                successes=len(chunk) - failed,
                errors=MappingProxyType({ErrorKind.HTTP_5XX: failed} if failed else {}),
                histogram=histogram_of_us(array("q", (chunk * 1000).astype(np.int64).tolist())),
            )
        )
    return out


def lognormal(seed: int, n: int, median_ms: float) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(np.log(median_ms), 0.4, n)


def test_a_known_shift_is_found_with_its_interval() -> None:
    base = windows_of(lognormal(1, 3000, 20.0))
    hit = windows_of(lognormal(2, 3000, 20.0) + 480.0)
    result = latency_shift(base, hit, rng=random.Random(3))
    assert result.significant is True
    assert result.ci_low_ms is not None
    assert result.ci_high_ms is not None
    assert result.ci_low_ms <= 480.0 <= result.ci_high_ms
    assert result.shift_ms == pytest.approx(480.0, abs=3.0)
    assert result.ci_high_ms - result.ci_low_ms < 5.0
    text = result.describe()
    assert text.startswith("p50 +48")
    assert text.endswith("significant")
    assert "95 % CI" in text


def test_identical_samples_show_no_significant_change() -> None:
    samples = lognormal(4, 2000, 15.0)
    result = latency_shift(windows_of(samples), windows_of(samples), rng=random.Random(1))
    assert result.significant is False
    assert result.describe() == "latency: no significant change"
    assert result.ci_low_ms is not None
    assert result.ci_high_ms is not None
    assert result.ci_low_ms <= 0.0 <= result.ci_high_ms


def test_noise_alone_rarely_looks_significant() -> None:
    """Same distribution, independent draws: false positives near alpha, not more."""
    hits = 0
    for seed in range(40):
        base = windows_of(lognormal(100 + seed, 400, 15.0))
        same = windows_of(lognormal(200 + seed, 400, 15.0))
        if latency_shift(base, same, rng=random.Random(seed), max_samples=400).significant:
            hits += 1
    assert hits <= 6  # expected 2 of 40 at alpha = 0.05; 6 is far in the tail


def test_a_small_real_shift_can_be_ignored_by_min_shift() -> None:
    base = windows_of(lognormal(5, 2000, 10.0))
    hit = windows_of(lognormal(6, 2000, 10.0) + 1.0)
    assert latency_shift(base, hit, rng=random.Random(1)).significant is True
    ignored = latency_shift(base, hit, rng=random.Random(1), min_shift_ms=5.0)
    assert ignored.significant is False


def test_too_few_samples_is_undecided() -> None:
    base = windows_of(np.array([10.0, 11.0, 12.0]))
    hit = windows_of(np.array([500.0, 510.0, 520.0]))
    result = latency_shift(base, hit, rng=random.Random(1))
    assert result.significant is None
    assert "too few samples" in result.describe()


def test_subsampling_is_bounded_seeded_and_exact_in_shape() -> None:
    windows = windows_of(lognormal(7, 20_000, 30.0))
    a = latency_samples_ms(windows, rng=random.Random(9), max_samples=1000)
    b = latency_samples_ms(windows, rng=random.Random(9), max_samples=1000)
    assert a.size == 1000
    assert np.array_equal(a, b)
    full = latency_samples_ms(windows, rng=random.Random(9), max_samples=10**9)
    assert full.size == 20_000
    assert np.median(a) == pytest.approx(np.median(full), rel=0.08)


def test_error_ratio_change_with_a_known_effect() -> None:
    base = windows_of(lognormal(1, 2000, 10.0), errors=2)
    hit = windows_of(lognormal(2, 2000, 10.0), errors=1600)
    result = error_ratio_change(base, hit)
    assert result.significant is True
    assert result.difference == pytest.approx(0.799, abs=0.001)
    assert result.ci_low is not None
    assert result.ci_high is not None
    assert result.ci_low < 0.799 < result.ci_high
    assert result.ci_high - result.ci_low < 0.05
    assert result.p_value is not None
    assert result.p_value < 1e-10
    assert result.describe().startswith("errors 0.1 % → 80.0 %")


def test_error_ratio_noise_is_not_significant() -> None:
    base = windows_of(lognormal(1, 1000, 10.0), errors=10)
    hit = windows_of(lognormal(2, 1000, 10.0), errors=13)
    result = error_ratio_change(base, hit)
    assert result.significant is False
    assert result.describe() == "errors: no significant change"
    assert result.ci_low is not None
    assert result.ci_low < 0 < (result.ci_high or 0)


def test_newcombe_interval_matches_the_published_example() -> None:
    """Newcombe (1998), table II example (h): 56/70 vs 48/80 → diff 0.2, CI 0.0524–0.3339."""
    base = [Window(0, 1, requests=80, successes=32)]  # 48 errors of 80
    hit = [Window(0, 1, requests=70, successes=14)]  # 56 errors of 70
    result = error_ratio_change(base, hit)
    assert result.difference == pytest.approx(0.2)
    assert result.ci_low == pytest.approx(0.0524, abs=0.0005)
    assert result.ci_high == pytest.approx(0.3339, abs=0.0005)
