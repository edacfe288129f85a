"""The concurrent control group: an experiment's fault phase against the control copy.

In a parallel run one copy of the system gets the same traffic for the whole run and no
fault (the control). A before/after baseline cannot tell a fault from drift: the machine
got busier, a cache warmed up. The control, measured over the *same interval*, can:

1. **worse than the control?** The baseline's three one-sided tests
   (``analysis.significance.assess_change``: rank test with its shift and interval,
   error-ratio interval, tail test), with the control's windows of the interval as the
   reference;
2. **did the control degrade?** The same tests on the control, its windows of the interval
   against its own windows just before it. When it got materially worse (it broke the SLO,
   or its median rose by at least :data:`MATERIAL_SHIFT` of what it was), something every
   copy shares got worse at the same moment: **interference** — a shared resource, an
   overloaded machine — and a failure is not the fault's alone;
3. **which reference to trust** when the before-baseline and the control disagree: the
   control when it has enough requests (it shares the interval, so drift cancels out),
   the baseline otherwise.

Pure functions: windows in, a frozen :class:`~chaos_workbench.model.ControlComparison` out.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from chaos_workbench.analysis.impact import window_holds_slo
from chaos_workbench.analysis.significance import MIN_REQUESTS, assess_change
from chaos_workbench.analysis.spec import Slo
from chaos_workbench.analysis.statistics import latency_shift
from chaos_workbench.model import ControlComparison
from chaos_workbench.traffic.window import Window, merge_windows

__all__ = ["MATERIAL_SHIFT", "compare_with_control"]

# A statistically significant rise of the control's median is material (interference) only
# from half its earlier median up: on a shared 2-core machine a few percent of drift is
# routine and significant with thousands of requests, and is no reason to doubt a verdict.
MATERIAL_SHIFT = 0.5


def compare_with_control(
    *,
    fault: Sequence[Window],
    control_fault: Sequence[Window],
    control_before: Sequence[Window],
    worse_than_baseline: bool | None,
    slo: Slo,
    rng: random.Random,
    alpha: float = 0.05,
) -> ControlComparison:
    """Compare ``fault`` (the experiment copy's fault-phase windows) with the control.

    ``control_fault`` are the control's windows over the same interval, ``control_before``
    its windows over the experiment's baseline interval; ``worse_than_baseline`` is the
    before/after verdict the experiment already reached (``assess_change``'s).
    """
    versus = assess_change(control_fault, fault, slo=slo, rng=rng, alpha=alpha)
    control_change = assess_change(control_before, control_fault, slo=slo, rng=rng, alpha=alpha)
    merged_control = merge_windows(control_fault)
    control_ok = window_holds_slo(merged_control, slo)
    shift = latency_shift(control_before, control_fault, alpha=alpha, rng=rng)
    before_p50 = merge_windows(control_before).percentile_ms(50.0)
    material_shift = (
        shift.shift_ms is not None
        and before_p50 is not None
        and shift.shift_ms >= MATERIAL_SHIFT * max(before_p50, 1.0)
    )
    degraded = (
        None
        if control_change.significant is None
        else bool(control_change.significant and (control_ok is False or material_shift))
    )
    interference = degraded is True
    trusted, explanation = _trust(
        versus.significant, worse_than_baseline, interference, merged_control.requests
    )
    interval_ns = sum(w.duration_ns for w in fault)
    return ControlComparison(
        interval_s=round(interval_ns / 1e9, 3),
        experiment_requests=merge_windows(fault).requests,
        control_requests=merged_control.requests,
        control_success_ratio=merged_control.success_ratio,
        control_p99_ms=merged_control.percentile_ms(99.0),
        worse_than_control=versus.significant,
        worse_than_baseline=worse_than_baseline,
        control_degraded=degraded,
        interference=interference,
        trusted=trusted,
        explanation=explanation,
        findings=(
            *(f"vs control: {f}" for f in versus.findings),
            *(f"control vs its own baseline: {f}" for f in control_change.findings),
        ),
    )


def _trust(
    versus_control: bool | None,
    versus_baseline: bool | None,
    interference: bool,
    control_requests: int,
) -> tuple[str, str]:
    """Which reference the verdict relies on, and why, in one sentence."""
    if interference:
        return "control", (
            "interference: the control degraded over the same interval, so the "
            "before-baseline would blame the fault for what every copy felt; the control "
            "comparison says whether the fault added harm beyond it "
            f"({_worse(versus_control)} than the control)"
        )
    if versus_control is None or control_requests < MIN_REQUESTS:
        return "baseline", (
            f"the control completed {control_requests} requests over the interval, too few "
            "to compare with; the before-baseline is used"
        )
    if versus_baseline is None or versus_control == versus_baseline:
        return "agree", (
            f"the before-baseline and the control agree: {_worse(versus_control)} under the fault"
        )
    return "control", (
        f"the before-baseline says {_worse(versus_baseline)}, the control says "
        f"{_worse(versus_control)}; the control is trusted: it was measured over the same "
        "interval under the same traffic, so drift since the baseline (a busier machine, a "
        "warmer cache) cancels out"
    )


def _worse(significant: bool | None) -> str:
    if significant is None:
        return "too few requests to tell whether worse"
    return "significantly worse" if significant else "not significantly worse"
