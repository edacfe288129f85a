"""Recovery and disruption at the resolution of single requests: pure functions.

A window-level answer ("the first stable streak of healthy windows") is quantised to the
window: a service that recovers 10 ms into a 250 ms window is reported as recovered at the
next window's start, up to a whole window late, every time. Here each request counts on
its own, by its *intended* send time (the load is open loop, so that time is the service's
clock as users see it):

* a request is **good** when it succeeded and, if the SLO sets ``p99_ms``, took at most
  that long; otherwise it **breaks** the SLO;
* the **recovery instant** is the intended time ``t`` of the first good request after the
  revert from which the SLO holds over the stable streak's length: the requests intended
  in ``[t, t + span)`` meet the success ratio, and at most 1 % of them are slower than
  ``p99_ms`` (the p99 rule, counted as HdrHistogram does: ``round(0.99 n)`` requests within
  the bound). ``span`` is ``stable_windows × window_ms``, the same length the window rule
  asks for. A span is judged only once every request in it has been measured;
* the **disruption** is the time from the first request that broke the SLO after the
  fault was injected to the recovery instant: how long users saw the fault, the revert
  (a restart, a thaw) included;
* the **error burst** is the time from the first *failed* request (an error, not a slow
  answer) after injection to the last one before the recovery instant: how long requests
  failed. Unlike the disruption it does not stretch to the revert when a system heals
  itself during the fault (a failover, an election, a health check), and it is measured
  even when the windows show no impact (a few failed requests around a reconnect).
"""

from __future__ import annotations

import numpy as np

from chaos_workbench.analysis.spec import Slo
from chaos_workbench.model import ImpactLevel
from chaos_workbench.traffic.window import RequestOutcomes

__all__ = [
    "disruption_ms",
    "error_burst_ns",
    "first_breaking_ns",
    "good_requests",
    "recovery_instant_ns",
]


def good_requests(outcomes: RequestOutcomes, slo: Slo) -> np.ndarray:
    """A boolean per request: succeeded, and within ``slo.p99_ms`` when it sets one."""
    good = outcomes.ok.copy()
    if slo.p99_ms is not None:
        good &= outcomes.latency_us <= slo.p99_ms * 1000.0
    return good


def first_breaking_ns(outcomes: RequestOutcomes, slo: Slo, *, after_ns: int) -> int | None:
    """The intended time of the first request at or after ``after_ns`` that broke the SLO."""
    late_enough = outcomes.intended_ns >= after_ns
    bad = np.flatnonzero(late_enough & ~good_requests(outcomes, slo))
    return int(outcomes.intended_ns[bad[0]]) if len(bad) else None


def disruption_ms(
    outcomes: RequestOutcomes,
    slo: Slo,
    impact: ImpactLevel,
    *,
    inject_ns: int,
    recovered_ns: int | None,
) -> float | None:
    """From the first SLO-breaking request after injection to the recovery instant: 0 with
    no impact, None when the service did not recover."""
    if impact is ImpactLevel.NONE:
        return 0.0
    if recovered_ns is None:
        return None
    first_ns = first_breaking_ns(outcomes, slo, after_ns=inject_ns)
    if first_ns is None or first_ns > recovered_ns:
        return 0.0  # impact from the windows, but no single request broke the SLO
    return round((recovered_ns - first_ns) / 1e6, 1)


def error_burst_ns(outcomes: RequestOutcomes, *, after_ns: int, before_ns: int) -> int:
    """Nanoseconds from the first to the last failed request intended in
    ``[after_ns, before_ns)`` (0 with none, or with one)."""
    times = outcomes.intended_ns
    failed = times[(times >= after_ns) & (times < before_ns) & ~outcomes.ok]
    return int(failed.max() - failed.min()) if len(failed) else 0


def recovery_instant_ns(
    outcomes: RequestOutcomes,
    slo: Slo,
    *,
    after_ns: int,
    span_ns: int,
    measured_until_ns: int,
    deadline_ns: int | None = None,
) -> int | None:
    """The recovery instant (monotonic ns, see the module docstring), or None when no
    complete span after ``after_ns`` holds the SLO yet.

    ``outcomes`` are sorted by intended time (``traffic.window.outcomes_of``);
    ``measured_until_ns`` is the end of what has been measured: every request intended
    before it is in ``outcomes``. Candidates start at or before ``deadline_ns``.
    """
    if span_ns <= 0:
        raise ValueError("the span must be positive")
    times = outcomes.intended_ns
    n_total = len(times)
    if n_total == 0:
        return None
    ends = np.searchsorted(times, times + span_ns, side="left")
    failed = np.concatenate(([0], np.cumsum(~outcomes.ok)))
    counts = ends - np.arange(n_total)
    fails = failed[ends] - failed[:-1]
    holds = (counts - fails) >= slo.success_ratio * counts
    if slo.p99_ms is not None:
        slow = np.concatenate(([0], np.cumsum(outcomes.latency_us > slo.p99_ms * 1000.0)))
        within = counts - (slow[ends] - slow[:-1])
        holds &= within >= np.maximum(1, np.floor(0.99 * counts + 0.5))
    candidate = (
        holds
        & good_requests(outcomes, slo)
        & (times >= after_ns)
        & (times + span_ns <= measured_until_ns)
    )
    if deadline_ns is not None:
        candidate &= times <= deadline_ns
    found = np.flatnonzero(candidate)
    return int(times[found[0]]) if len(found) else None
