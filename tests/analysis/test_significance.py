"""The noise veto: only a significant change for the worse counts as impact."""

from __future__ import annotations

import random

from chaos_workbench.analysis.significance import assess_change, slow_share_change
from chaos_workbench.analysis.spec import Slo
from chaos_workbench.traffic.window import Window, new_histogram

SLO = Slo(success_ratio=0.99, p99_ms=300)


def windows(latencies_ms: list[float], failures: int = 0, per_window: int = 50) -> list[Window]:
    out = []
    for start in range(0, len(latencies_ms), per_window):
        chunk = latencies_ms[start : start + per_window]
        histogram = new_histogram()
        for value in chunk:
            histogram.record_value(int(value * 1000))
        failed = min(failures, len(chunk))
        failures -= failed
        out.append(
            Window(
                start_ns=start * 5_000_000,
                duration_ns=250_000_000,
                requests=len(chunk),
                successes=len(chunk) - failed,
                histogram=histogram,
            )
        )
    return out


def jittered(rng: random.Random, n: int, center_ms: float) -> list[float]:
    return [max(0.1, rng.gauss(center_ms, center_ms * 0.1)) for _ in range(n)]


def test_identical_distributions_are_not_a_change() -> None:
    rng = random.Random(1)
    base = windows(jittered(rng, 400, 10))
    same = windows(jittered(rng, 400, 10))
    assessment = assess_change(base, same, slo=SLO, rng=random.Random(2))
    assert assessment.significant is False


def test_a_slower_service_is_a_change() -> None:
    rng = random.Random(1)
    base = windows(jittered(rng, 400, 10))
    slow = windows(jittered(rng, 400, 510))
    assessment = assess_change(base, slow, slo=SLO, rng=random.Random(2))
    assert assessment.significant is True
    assert any("significant" in f and "+" in f for f in assessment.findings)


def test_a_faster_service_is_not_impact() -> None:
    rng = random.Random(1)
    base = windows(jittered(rng, 400, 50))
    faster = windows(jittered(rng, 400, 5))
    assert assess_change(base, faster, slo=SLO, rng=random.Random(2)).significant is False


def test_a_grown_tail_with_the_same_median_is_a_change() -> None:
    rng = random.Random(1)
    base = windows(jittered(rng, 600, 10))
    tail = jittered(rng, 540, 10) + [600.0] * 60  # 10 % now slower than the 300 ms bound
    rng.shuffle(tail)
    change = slow_share_change(base, windows(tail), threshold_ms=300, alpha=0.05)
    assert change.significant is True
    assert change.fault_slow == 60
    assert assess_change(base, windows(tail), slo=SLO, rng=random.Random(2)).significant is True


def test_more_errors_is_a_change() -> None:
    rng = random.Random(1)
    base = windows(jittered(rng, 400, 10))
    failing = windows(jittered(rng, 400, 10), failures=120)
    assert assess_change(base, failing, slo=SLO, rng=random.Random(2)).significant is True


def test_too_few_requests_cannot_tell() -> None:
    rng = random.Random(1)
    few = windows(jittered(rng, 5, 10))
    assert slow_share_change(few, few, threshold_ms=300, alpha=0.05).significant is None
