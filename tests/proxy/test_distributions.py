"""The latency toxic's delay distributions match what ``toxics/latency.py`` documents.

Delays are drawn through the real code path — the toxic type from the registry, its
attributes validated from Toxiproxy-style JSON, a pipe built for a :class:`PipeContext` with
a seeded RNG — by calling the pipe's own ``_delay_ns``, 20,000 times per distribution.
Each distribution has one checker with explicit tolerances (about five standard errors at
this sample size unless a comment says otherwise) plus a Kolmogorov–Smirnov test against the
exact distribution; ``test_checks_tell_distributions_apart`` proves that every checker
rejects every other distribution's delays, so a swap of two distributions cannot pass.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import pytest
from scipy import stats

from chaos_workbench.proxy.manager import load_toxic_types
from chaos_workbench.proxy.toxics.base import PipeContext, Stream, get_type
from chaos_workbench.proxy.toxics.latency import LatencyPipe

N = 20_000
LATENCY_MS = 100.0
JITTER_MS = 20.0
SEED = 20_240_611
KS_MIN_P = 1e-3  # a correct sampler fails this one time in a thousand seeds

# X ~ Pareto(α = 3, xₘ = 1) and the extra delay 2·jitter·(X − 1) (latency.py's docstring):
# E[X] = α/(α−1) = 1.5, so the mean extra is jitter; the p-quantile of X is (1−p)^(−1/α), so
# the p99 extra is 2·(100^(1/3) − 1)·jitter ≈ 7.28·jitter — about 7.3 times the mean, where
# an exponential tail with the same mean would give ln(100) ≈ 4.6 times and a normal less.
PARETO_ALPHA = 3.0
PARETO_P99_EXTRA = 2 * (100 ** (1 / PARETO_ALPHA) - 1)
# pareto_normal = latency + ¾·N(0, jitter) + ¼·(the pareto extra): mean latency + jitter/4,
# variance (¾)²·jitter² + (¼)²·Var(2(X − 1))·jitter² = (9/16 + 1/16 · 3)·jitter² = ¾·jitter².
PARETO_NORMAL_MEAN_EXTRA = 0.25
PARETO_NORMAL_SD = math.sqrt(0.75)


class _NoTimers:
    """Sampling a delay must not touch the clock; any use is a test failure."""

    def now_ns(self) -> int:
        raise AssertionError("sampling a delay read the clock")

    def call_at(self, due_ns: int, callback: Callable[[], None]) -> Any:
        raise AssertionError("sampling a delay scheduled a timer")


class _NoConnection:
    """Sampling a delay must not act on the connection."""

    id = 1
    client_address = "127.0.0.1:1"

    def reset(self) -> None:
        raise AssertionError("sampling a delay reset the connection")

    def close(self) -> None:
        raise AssertionError("sampling a delay closed the connection")


def latency_pipe(attributes: dict[str, Any], rng: random.Random) -> LatencyPipe:
    """A latency pipe built as the link builds one, from the registry and JSON attributes."""
    load_toxic_types()
    cls = get_type("latency")
    toxic = cls(cls.attributes_model.model_validate(attributes))
    ctx = PipeContext(
        toxic_name="latency_downstream",
        stream=Stream.DOWNSTREAM,
        connection=_NoConnection(),
        state=toxic.new_state(),
        rng=rng,
        clock=cast(Any, _NoTimers()),
        _on_action=lambda: None,
    )
    pipe = toxic.pipe(ctx)
    assert isinstance(pipe, LatencyPipe)
    return pipe


@functools.cache
def delays_ms(distribution: str, latency: float = LATENCY_MS, jitter: float = JITTER_MS) -> Any:
    """N delays in ms from a seeded RNG (cached: the swap test reuses them)."""
    attributes = {"latency": int(latency), "jitter": int(jitter), "distribution": distribution}
    pipe = latency_pipe(attributes, random.Random(SEED))
    return np.array([pipe._delay_ns() for _ in range(N)], dtype=np.float64) / 1e6


def check_uniform(ms: Any) -> None:
    """latency + U(−jitter, +jitter): bounded, centred, variance jitter²/3."""
    assert ms.min() >= LATENCY_MS - JITTER_MS
    assert ms.max() <= LATENCY_MS + JITTER_MS
    assert abs(ms.mean() - LATENCY_MS) <= 0.02 * JITTER_MS  # SE of the mean ≈ 0.004·jitter
    expected_var = JITTER_MS**2 / 3
    assert abs(ms.var() - expected_var) <= 0.03 * expected_var  # SE ≈ 0.6 %
    uniform = stats.uniform(loc=LATENCY_MS - JITTER_MS, scale=2 * JITTER_MS)
    assert stats.kstest(ms, uniform.cdf).pvalue > KS_MIN_P


def check_normal(ms: Any) -> None:
    """N(latency, σ = jitter): mean, sd ± 5 %, 68.3 % within one sd."""
    assert abs(ms.mean() - LATENCY_MS) <= 0.03 * JITTER_MS  # SE of the mean ≈ 0.007·jitter
    assert abs(ms.std() - JITTER_MS) <= 0.05 * JITTER_MS  # SE ≈ 0.5 %
    within = np.mean(np.abs(ms - LATENCY_MS) <= JITTER_MS)
    assert abs(within - 0.6827) <= 0.015  # SE ≈ 0.0033
    assert stats.kstest(ms, stats.norm(loc=LATENCY_MS, scale=JITTER_MS).cdf).pvalue > KS_MIN_P


def check_pareto(ms: Any) -> None:
    """latency + jitter·2(X − 1): never below latency, mean extra jitter, a heavy tail."""
    extra = ms - LATENCY_MS
    assert extra.min() >= 0
    mean_extra = extra.mean()
    assert abs(mean_extra - JITTER_MS) <= 0.10 * JITTER_MS  # SE ≈ 1.2 %
    p99 = float(np.percentile(extra, 99))
    # SE of the sample p99 ≈ 3 % of it; observed over 2,000 seeds: 6.6–8.1·jitter.
    assert abs(p99 - PARETO_P99_EXTRA * JITTER_MS) <= 0.15 * PARETO_P99_EXTRA * JITTER_MS
    assert p99 > 6 * mean_extra  # heavy: an exponential tail would give 4.6×
    pareto = stats.pareto(b=PARETO_ALPHA, loc=LATENCY_MS - 2 * JITTER_MS, scale=2 * JITTER_MS)
    assert stats.kstest(ms, pareto.cdf).pvalue > KS_MIN_P


def check_pareto_normal(ms: Any) -> None:
    """latency + ¾·N(0, jitter) + ¼·(the pareto extra): the sum, not a coin-flip mixture."""
    expected_mean = LATENCY_MS + PARETO_NORMAL_MEAN_EXTRA * JITTER_MS
    assert abs(ms.mean() - expected_mean) <= 0.04 * JITTER_MS  # SE ≈ 0.006·jitter
    # The Pareto(3) part has no fourth moment, so the sample sd's error is skewed upwards
    # (over 4,000 seeds: −4 % … +90 %, above +10 % for 1 %); a coin-flip mixture would
    # give 1.5× this sd, the normal alone 1.15×.
    sd = ms.std()
    assert PARETO_NORMAL_SD * JITTER_MS * 0.95 <= sd <= PARETO_NORMAL_SD * JITTER_MS * 1.10
    # The sum has no closed-form CDF: compare with an independent sample of the formula.
    ref = np.random.default_rng(SEED)
    reference = (
        LATENCY_MS
        + 0.75 * JITTER_MS * ref.standard_normal(N)
        + 0.25 * JITTER_MS * 2 * ref.pareto(PARETO_ALPHA, N)  # numpy's pareto is X − 1
    )
    assert stats.ks_2samp(ms, reference).pvalue > KS_MIN_P


CHECKS: dict[str, Callable[[Any], None]] = {
    "uniform": check_uniform,
    "normal": check_normal,
    "pareto": check_pareto,
    "pareto_normal": check_pareto_normal,
}


@pytest.mark.parametrize("distribution", list(CHECKS))
def test_distribution_matches_its_definition(distribution: str) -> None:
    CHECKS[distribution](delays_ms(distribution))


@pytest.mark.parametrize(("checker", "drawn"), [(c, d) for c in CHECKS for d in CHECKS if c != d])
def test_checks_tell_distributions_apart(checker: str, drawn: str) -> None:
    """Each checker rejects every other distribution's delays: a swap cannot go unnoticed."""
    with pytest.raises(AssertionError):
        CHECKS[checker](delays_ms(drawn))


def test_uniform_is_the_default() -> None:
    """No ``distribution`` attribute (Toxiproxy's JSON) means Toxiproxy's uniform jitter."""
    rng = random.Random(SEED)
    pipe = latency_pipe({"latency": int(LATENCY_MS), "jitter": int(JITTER_MS)}, rng)
    ms = np.array([pipe._delay_ns() for _ in range(N)], dtype=np.float64) / 1e6
    np.testing.assert_array_equal(ms, delays_ms("uniform"))


@pytest.mark.parametrize("distribution", list(CHECKS))
@pytest.mark.parametrize("latency", [0, 1, 250])
def test_zero_jitter_is_exactly_latency(distribution: str, latency: int) -> None:
    pipe = latency_pipe(
        {"latency": latency, "jitter": 0, "distribution": distribution}, random.Random(SEED)
    )
    assert {pipe._delay_ns() for _ in range(1000)} == {latency * 1_000_000}


# P(draw < 0) with latency 5, jitter 50: uniform (50 − 5)/100; normal Φ(−0.1); pareto_normal
# P(37.5·N + 25·(X − 1) < −5) ≈ 0.3425 (10⁷ draws of the formula: the pareto part only adds).
ZERO_SHARE = {"uniform": 0.45, "normal": 0.4602, "pareto_normal": 0.3425}


@pytest.mark.parametrize("distribution", list(ZERO_SHARE))
def test_delays_are_clipped_at_zero(distribution: str) -> None:
    """A jitter far above the latency never gives a negative delay; below-zero draws are 0."""
    pipe = latency_pipe(
        {"latency": 5, "jitter": 50, "distribution": distribution}, random.Random(SEED)
    )
    ns = np.array([pipe._delay_ns() for _ in range(N)])
    assert ns.min() == 0
    assert abs(float(np.mean(ns == 0)) - ZERO_SHARE[distribution]) <= 0.015  # SE ≈ 0.0035


def test_same_seed_same_delays() -> None:
    """``cwb proxy --seed``: the same seed gives the same delays, another seed others."""
    attributes = {"latency": 10, "jitter": 5, "distribution": "pareto_normal"}
    first = latency_pipe(attributes, random.Random(7))
    second = latency_pipe(attributes, random.Random(7))
    other = latency_pipe(attributes, random.Random(8))
    a = [first._delay_ns() for _ in range(100)]
    assert a == [second._delay_ns() for _ in range(100)]
    assert a != [other._delay_ns() for _ in range(100)]
