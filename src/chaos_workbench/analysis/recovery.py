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
  (a restart, a thaw) included.
"""

from __future__ import annotations

import numpy as np

from chaos_workbench.analysis.spec import Slo
from chaos_workbench.traffic.window import RequestOutcomes

__all__ = ["first_breaking_ns", "good_requests", "recovery_instant_ns"]


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
