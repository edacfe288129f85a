"""Recovery and disruption at the resolution of single requests (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest

from chaos_workbench.analysis.recovery import (
    disruption_ms,
    error_burst_ns,
    first_breaking_ns,
    good_requests,
    recovery_instant_ns,
)
from chaos_workbench.analysis.spec import Slo
from chaos_workbench.model import ImpactLevel
from chaos_workbench.traffic.window import RequestOutcomes

MS = 1_000_000


def outcomes(pattern: str, *, step_ms: float = 20.0, latency_ms: float = 5.0) -> RequestOutcomes:
    """One request every ``step_ms`` from t=0: ``.`` good, ``x`` failed, ``s`` slow (1 s)."""
    n = len(pattern)
    intended = (np.arange(n) * step_ms * MS).astype(np.int64)
    latency = np.array([1_000_000 if c == "s" else latency_ms * 1000 for c in pattern], np.int64)
    ok = np.array([c != "x" for c in pattern], np.bool_)
    return RequestOutcomes(intended, latency, ok)


STRICT = Slo(success_ratio=0.99)


def test_the_instant_is_the_first_good_request_of_a_span_that_holds() -> None:
    # 10 failures (0..180 ms), then good from 200 ms: the instant is exactly 200 ms.
    series = outcomes("x" * 10 + "." * 60)
    instant = recovery_instant_ns(
        series, STRICT, after_ns=0, span_ns=750 * MS, measured_until_ns=2000 * MS
    )
    assert instant == 200 * MS


def test_a_span_is_judged_only_once_it_is_wholly_measured() -> None:
    series = outcomes("x" * 10 + "." * 60)
    # 200 ms + 750 ms = 950 ms: measured until 900 ms is not enough, 950 ms is.
    kwargs = {"after_ns": 0, "span_ns": 750 * MS}
    assert recovery_instant_ns(series, STRICT, measured_until_ns=900 * MS, **kwargs) is None
    assert recovery_instant_ns(series, STRICT, measured_until_ns=950 * MS, **kwargs) == 200 * MS


def test_a_relapse_inside_the_span_moves_the_instant_past_it() -> None:
    # good 200..380 ms, a failure at 400 ms, good after: the span from 200 ms holds a
    # failure (1 of 38: 97.4 % < 99 %), so recovery is the first good request after it.
    series = outcomes("x" * 10 + "." * 10 + "x" + "." * 60)
    instant = recovery_instant_ns(
        series, STRICT, after_ns=0, span_ns=750 * MS, measured_until_ns=5000 * MS
    )
    assert instant == 420 * MS


def test_a_looser_ratio_tolerates_a_relapse_but_never_starts_on_a_failure() -> None:
    series = outcomes("x" * 10 + "." * 10 + "x" + "." * 60)
    loose = Slo(success_ratio=0.9)
    instant = recovery_instant_ns(
        series, loose, after_ns=0, span_ns=750 * MS, measured_until_ns=5000 * MS
    )
    # At 0.9 the span starting at 180 ms (1 failure, then good) would hold, but a span
    # must start on a good request: 200 ms.
    assert instant == 200 * MS


def test_requests_before_the_revert_do_not_count() -> None:
    series = outcomes("." * 80)
    instant = recovery_instant_ns(
        series, STRICT, after_ns=305 * MS, span_ns=500 * MS, measured_until_ns=5000 * MS
    )
    assert instant == 320 * MS  # the first request intended at or after 305 ms


def test_latency_counts_through_the_p99_rule() -> None:
    slo = Slo(success_ratio=0.99, p99_ms=300)
    # Slow until 400 ms, then fast: slow requests break the SLO like failures do.
    series = outcomes("s" * 20 + "." * 100)
    instant = recovery_instant_ns(
        series, slo, after_ns=0, span_ns=750 * MS, measured_until_ns=5000 * MS
    )
    assert instant == 400 * MS
    # Without a latency objective the slow requests were fine all along.
    assert (
        recovery_instant_ns(
            series, STRICT, after_ns=0, span_ns=750 * MS, measured_until_ns=5000 * MS
        )
        == 0
    )


def test_one_slow_request_in_a_hundred_and_fifty_keeps_p99() -> None:
    slo = Slo(success_ratio=0.99, p99_ms=300)
    # 150 requests in the span, one of them slow: 149 within = round(0.99 * 150) -> holds.
    series = outcomes("." * 10 + "s" + "." * 300, step_ms=5)
    instant = recovery_instant_ns(
        series, slo, after_ns=0, span_ns=750 * MS, measured_until_ns=2000 * MS
    )
    assert instant == 0
    # Two slow ones in the same span do not.
    series = outcomes("." * 10 + "ss" + "." * 300, step_ms=5)
    instant = recovery_instant_ns(
        series, slo, after_ns=0, span_ns=750 * MS, measured_until_ns=2000 * MS
    )
    assert instant == 60 * MS  # the first good request after the second slow one


def test_the_deadline_bounds_where_a_span_may_start() -> None:
    series = outcomes("x" * 50 + "." * 100)  # good from 1000 ms
    kwargs = {"after_ns": 0, "span_ns": 500 * MS, "measured_until_ns": 5000 * MS}
    assert recovery_instant_ns(series, STRICT, deadline_ns=999 * MS, **kwargs) is None
    assert recovery_instant_ns(series, STRICT, deadline_ns=1000 * MS, **kwargs) == 1000 * MS


def test_no_requests_no_recovery() -> None:
    empty = outcomes("")
    assert (
        recovery_instant_ns(empty, STRICT, after_ns=0, span_ns=MS, measured_until_ns=10 * MS)
        is None
    )
    with pytest.raises(ValueError, match="span must be positive"):
        recovery_instant_ns(empty, STRICT, after_ns=0, span_ns=0, measured_until_ns=0)


def test_the_first_breaking_request_after_injection() -> None:
    slo = Slo(success_ratio=0.99, p99_ms=300)
    series = outcomes("x...s..x")
    assert first_breaking_ns(series, slo, after_ns=0) == 0
    assert first_breaking_ns(series, slo, after_ns=1) == 80 * MS  # the slow one
    assert first_breaking_ns(series, STRICT, after_ns=1) == 140 * MS  # slow is fine here
    assert first_breaking_ns(series, slo, after_ns=141 * MS) is None


def test_good_requests() -> None:
    slo = Slo(success_ratio=0.99, p99_ms=300)
    assert good_requests(outcomes(".xs."), slo).tolist() == [True, False, False, True]
    assert good_requests(outcomes(".xs."), STRICT).tolist() == [True, False, True, True]


def test_the_error_burst_spans_the_first_to_the_last_failure_and_ignores_slow_answers() -> None:
    # Good, then failures at 100..160 ms with a good one and slow ones among them, good again.
    series = outcomes("....." + "xx.x" + "ss" + "......")
    assert error_burst_ns(series, after_ns=0, before_ns=10_000 * MS) == 60 * MS  # 100→160
    # Only failures intended in [after, before) count.
    assert error_burst_ns(series, after_ns=130 * MS, before_ns=10_000 * MS) == 0  # one: 160
    assert error_burst_ns(series, after_ns=0, before_ns=150 * MS) == 20 * MS  # 100→120
    assert error_burst_ns(outcomes("." * 20), after_ns=0, before_ns=10_000 * MS) == 0


def test_the_disruption_runs_to_the_recovery_instant_even_when_errors_stopped_earlier() -> None:
    # Failures 100..140 ms (a failover), recovered (by the SLO) at 400 ms.
    series = outcomes("....." + "xxx" + "." * 30)
    assert (
        disruption_ms(
            series, STRICT, ImpactLevel.PARTIAL_OUTAGE, inject_ns=0, recovered_ns=400 * MS
        )
        == 300.0
    )
    assert error_burst_ns(series, after_ns=0, before_ns=400 * MS) == 40 * MS
    assert disruption_ms(series, STRICT, ImpactLevel.NONE, inject_ns=0, recovered_ns=None) == 0.0
    assert (
        disruption_ms(series, STRICT, ImpactLevel.FULL_OUTAGE, inject_ns=0, recovered_ns=None)
        is None
    )
