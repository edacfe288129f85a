"""One experiment, for real: steady state → inject → hold → revert → recover → verdict.

Traffic runs the whole time; this module only reads the window feed, has the experiment's
faults applied and reverted on their schedule (``compound``: one fault, or several with
their own offsets and durations), and turns what was measured into a
:class:`~chaos_workbench.model.FaultResult` (assembled in ``outcome``). Each phase is one
method of :class:`ExperimentRunner`, and what a phase learns is written on the
experiment's :class:`Trial`. The revert runs whatever happens — success, a failed apply,
an exception, cancellation (Ctrl-C, SIGTERM) — and cannot itself be interrupted half-way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chaos_workbench.analysis.impact import (
    classify_impact,
    judge,
    phase_stats,
    window_holds_slo,
)
from chaos_workbench.analysis.recovery import disruption_ms as disruption_ms_of
from chaos_workbench.analysis.recovery import error_burst_ns as error_burst_ns_of
from chaos_workbench.analysis.recovery import recovery_instant_ns
from chaos_workbench.analysis.significance import assess_change
from chaos_workbench.engine.compound import (
    FaultSchedule,
    HeldFault,
    LeaseHandle,
    LeaseKeeper,
    uncancellable,
)
from chaos_workbench.engine.faults import make_fault
from chaos_workbench.engine.feed import WindowFeed
from chaos_workbench.engine.journal import Journal
from chaos_workbench.engine.observers import RunObserver
from chaos_workbench.engine.outcome import Clock, ResultBuilder, now_ns, reliable
from chaos_workbench.experiments.schema import ExperimentSpec, Suite
from chaos_workbench.faults import Fault, FaultContext, FaultParams
from chaos_workbench.model import ExperimentStatus, FaultResult, ImpactLevel
from chaos_workbench.traffic.window import Window, merge_windows, outcomes_of

__all__ = ["ExperimentRunner", "LeaseHandle", "LeaseKeeper", "Trial", "uncancellable"]
# LeaseHandle, LeaseKeeper and uncancellable live in ``compound``; importable here as before.


@dataclass
class Trial:
    """One experiment in flight: what it runs, for how long, and what each phase found."""

    spec: ExperimentSpec
    schedule: FaultSchedule
    clock: Clock
    result: ResultBuilder
    baseline_s: float
    fault_s: float
    recovery_timeout_s: float
    request_timeout_s: float
    baseline: list[Window] = field(default_factory=list)
    inject_ns: int = 0  # the fault phase began (the first apply() at 0 s)
    injected_ns: int = 0  # the first apply() returned
    revert_ns: int = 0  # the fault phase ended: the final revert() called
    revert_end_ns: int = 0  # the final revert() returned
    revert_error: str | None = None
    recovered_ns: int | None = None  # the recovery instant (analysis/recovery.py)

    @property
    def fault(self) -> Fault[Any]:
        """The experiment's first fault: the one of a single-fault experiment."""
        return self.schedule.held[0].fault

    @property
    def apply_error(self) -> str | None:
        return self.schedule.apply_error

    @property
    def unsupported(self) -> bool:
        """The apply failed for want of a capability of this machine."""
        return self.schedule.unsupported

    @property
    def aborted(self) -> bool:
        """Only an abort while the faults are held counts (not one in recovery)."""
        return self.schedule.aborted

    @property
    def revert_ms(self) -> float:
        return (self.revert_end_ns - self.revert_ns) / 1e6

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def failed_to_act(self) -> str | None:
        """Why the fault could not be applied or reverted, or None when it could."""
        if self.apply_error is not None:
            return f"the fault could not be applied: {self.apply_error}"
        if self.revert_error is not None:
            return f"the fault could not be reverted: {self.revert_error}"
        return None


@dataclass
class ExperimentRunner:
    """Runs experiments of one suite against one window feed."""

    suite: Suite
    feed: WindowFeed
    ctx: FaultContext
    journal: Journal
    leases: LeaseKeeper | None = None
    abort: asyncio.Event = field(default_factory=asyncio.Event)
    abort_reason: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)  # the run is being stopped
    on_phase: Callable[[str, str], None] = lambda experiment, phase: None
    reverted: list[str] = field(default_factory=list)  # "experiment: fault", in order
    observer: RunObserver = field(default_factory=RunObserver)  # /metrics, traces

    def _durations(self, spec: ExperimentSpec) -> tuple[float, float, float]:
        d = self.suite.defaults
        single = spec.fault.duration_s if spec.fault is not None else None
        return (
            spec.baseline_s or d.baseline_s,
            single or spec.fault_s or d.fault_s,
            spec.recovery_timeout_s or d.recovery_timeout_s,
        )

    def build_fault(self, spec: ExperimentSpec) -> Fault[Any]:
        """The first fault, built as the experiment will run it (see ``_held``)."""
        return self._held(spec)[0].fault

    def _held(self, spec: ExperimentSpec) -> list[HeldFault]:
        """Each fault with its interval; each is told how long it will be held (faults size
        their time-to-live by it)."""
        _, fault_s, _ = self._durations(spec)
        held = []
        for item in spec.schedule:
            end_s = min(item.at_s + (item.fault.duration_s or fault_s), fault_s)
            params = item.fault.model_copy(update={"duration_s": end_s - item.at_s})
            fault = make_fault(params, self.ctx, self.suite, experiment=spec.name)
            held.append(HeldFault(fault, item.at_s, end_s, target=_target(item.fault)))
        return held

    async def run(self, spec: ExperimentSpec) -> FaultResult:
        """Run one experiment; never raises for a fault that misbehaves (only cancellation)."""
        trial = self._begin(spec)
        if not await self._steady_state(trial):
            return self._inconclusive(trial)
        await self._inject_hold_revert(trial)
        if trial.unsupported and trial.revert_error is None:
            return self._not_run_here(trial)
        if trial.failed_to_act is not None:
            return await self._errored(trial)
        return await self._recover_and_judge(trial)

    # -- the phases, in order ----------------------------------------------------------------

    def _begin(self, spec: ExperimentSpec) -> Trial:
        baseline_s, fault_s, recovery_timeout_s = self._durations(spec)
        clock = Clock(start_ns=now_ns())
        schedule = FaultSchedule(
            spec.name, self._held(spec), clock, self.journal, self.leases, self.observer
        )
        schedule.reverted = self.reverted  # one list for the whole run
        fault = schedule.held[0].fault
        described = " + ".join(h.fault.describe() for h in schedule.held)
        self.feed.forget_requests_before(clock.start_ns)  # earlier experiments' detail
        self.journal.write("experiment_start", experiment=spec.name, fault=described)
        self.observer.experiment_started(spec.name, fault.kind, described)
        return Trial(
            spec=spec,
            schedule=schedule,
            clock=clock,
            result=ResultBuilder(spec, fault, clock, self.suite.slo, schedule=schedule),
            baseline_s=baseline_s,
            fault_s=fault_s,
            recovery_timeout_s=recovery_timeout_s,
            request_timeout_s=self.suite.request_timeout_ms / 1e3,
        )

    async def _steady_state(self, trial: Trial) -> bool:
        """1. Measure the baseline; True when the SLO held over it (then inject)."""
        self.on_phase(trial.name, "baseline")
        end_ns = self._baseline_end_ns(trial)
        await self.feed.wait_covered(
            end_ns, timeout_s=trial.baseline_s + trial.request_timeout_s + 10
        )
        trial.baseline = self.feed.between(trial.clock.start_ns, end_ns)
        return window_holds_slo(merge_windows(trial.baseline), self.suite.slo) is True

    def _baseline_end_ns(self, trial: Trial) -> int:
        return trial.clock.start_ns + int(trial.baseline_s * 1e9)

    def _inconclusive(self, trial: Trial) -> FaultResult:
        reason = _steady_state_reason(merge_windows(trial.baseline), self.suite)
        self.journal.write("inconclusive", experiment=trial.name, reason=reason)
        windows = self.feed.between(trial.clock.start_ns, self._baseline_end_ns(trial))
        return trial.result.finish(
            ExperimentStatus.INCONCLUSIVE, ImpactLevel.NONE, None, reason, windows, {}
        )

    async def _inject_hold_revert(self, trial: Trial) -> None:
        """2–4. Apply each fault under its lease on its schedule, hold (or stop at an
        abort), and revert every one of them whatever happens."""
        self.abort.clear()
        self.abort_reason.clear()
        schedule = trial.schedule
        described = " + ".join(h.fault.describe() for h in schedule.held)
        trial.inject_ns = trial.injected_ns = trial.clock.mark("inject", described)
        self.on_phase(trial.name, "fault")
        try:
            await schedule.hold(trial.inject_ns, trial.fault_s, self.abort)
            if schedule.aborted:
                trial.clock.mark("aborted", "; ".join(self.abort_reason))
        finally:
            await self._revert_phase(trial)
        trial.injected_ns = schedule.first_applied_ns or trial.inject_ns
        if self.stop.is_set():  # stopped by a signal whose cancellation did not arrive
            raise asyncio.CancelledError

    async def _revert_phase(self, trial: Trial) -> None:
        """4. Revert (uninterruptibly); each lease is released only when its revert worked."""
        self.on_phase(trial.name, "revert")
        trial.revert_ns = trial.clock.mark("revert")
        trial.revert_error, returned_ns = await trial.schedule.revert_all()
        # At the instant the last revert returned: recovery and revert_ms count from the
        # revert itself, not from the lease and journal bookkeeping after it.
        trial.revert_end_ns = trial.clock.mark("reverted", trial.revert_error or "", returned_ns)

    def _not_run_here(self, trial: Trial) -> FaultResult:
        """The machine lacks what the fault needs: nothing was injected, nothing to judge."""
        reason = f"not run on this machine: {trial.apply_error}"
        self.journal.write("inconclusive", experiment=trial.name, reason=reason)
        windows = self.feed.between(trial.clock.start_ns, trial.revert_end_ns)
        return trial.result.finish(
            ExperimentStatus.INCONCLUSIVE, ImpactLevel.NONE, None, reason, windows, {}
        )

    async def _errored(self, trial: Trial) -> FaultResult:
        reason = trial.failed_to_act or ""
        self.journal.write("error", experiment=trial.name, reason=reason)
        # Part of the fault may have acted before it failed: give the system its
        # recovery time, so the next experiment does not start on a hurt system.
        settled_ms = await self._await_recovery(trial)
        windows = self.feed.between(trial.clock.start_ns, now_ns())
        return trial.result.finish(
            ExperimentStatus.ERROR,
            ImpactLevel.NONE,
            settled_ms,
            reason,
            windows,
            {},
            revert_ms=trial.revert_ms,
        )

    async def _recover_and_judge(self, trial: Trial) -> FaultResult:
        """5–6. Classify the fault phase, wait for recovery, and give the verdict."""
        self.on_phase(trial.name, "recovery")
        await self.feed.wait_covered(trial.revert_ns, timeout_s=trial.request_timeout_s + 10)
        fault_windows = self._fault_windows(trial)
        slo = self.suite.slo
        change = assess_change(trial.baseline, fault_windows, slo=slo, rng=self.ctx.rng)
        impact = classify_impact(
            fault_windows, slo, self.suite.impact, significant_change=change.significant
        )
        recovery_ms = await self._recovery_ms(trial, impact)
        until_ns = trial.recovered_ns or now_ns()  # not recovered: all that was measured
        outcomes = outcomes_of(self.feed.between(trial.inject_ns, until_ns))
        disruption_ms = disruption_ms_of(
            outcomes, slo, impact, inject_ns=trial.inject_ns, recovered_ns=trial.recovered_ns
        )
        error_burst_ns = error_burst_ns_of(outcomes, after_ns=trial.inject_ns, before_ns=until_ns)
        end_ns = now_ns()
        if trial.aborted:
            status = ExperimentStatus.ABORTED
            reason = "aborted: " + "; ".join(self.abort_reason)
        else:
            status, reason = judge(impact, recovery_ms, trial.spec.expect)
        self.journal.write(
            "verdict",
            experiment=trial.name,
            status=status.value,
            impact=impact.value,
            recovery_time_ms=recovery_ms,
            revert_ms=round(trial.revert_ms, 1),
            disruption_ms=disruption_ms,
            reason=reason,
        )
        phases = {
            "baseline": phase_stats(trial.baseline),
            "fault": phase_stats(fault_windows),
            "recovery": phase_stats(self.feed.between(trial.revert_end_ns, end_ns)),
        }
        windows = self.feed.between(trial.clock.start_ns, end_ns)
        return trial.result.finish(
            status,
            impact,
            recovery_ms,
            reason,
            windows,
            phases,
            findings=change.findings,
            reliable=reliable(windows),
            phase_marks=(trial.inject_ns, trial.revert_end_ns),
            revert_ms=trial.revert_ms,
            disruption_ms=disruption_ms,
            error_burst_ms=round(error_burst_ns / 1e6, 1),
        )

    def _fault_windows(self, trial: Trial) -> list[Window]:
        """The windows wholly between "applied" and "revert starts".

        A window straddling either edge mixes healthy and faulty requests. A fault held for
        less than a window falls back to every window it touched.
        """
        return [
            w
            for w in self.feed.between(trial.injected_ns, trial.revert_ns)
            if w.start_ns >= trial.injected_ns and w.end_ns <= trial.revert_ns
        ] or self.feed.between(trial.inject_ns, trial.revert_ns)

    async def _recovery_ms(self, trial: Trial, impact: ImpactLevel) -> float | None:
        """5. Milliseconds from the end of the revert to the recovery instant."""
        if impact is ImpactLevel.NONE:
            recovery_ms: float | None = 0.0  # nothing to recover from
        else:
            recovery_ms = await self._await_recovery(trial)
        if recovery_ms is not None:
            trial.clock.mark(
                "recovered",
                f"{recovery_ms:.0f} ms after revert",
                trial.revert_end_ns + int(recovery_ms * 1e6),
            )
        return recovery_ms

    # -- helpers -----------------------------------------------------------------------------

    async def _await_recovery(self, trial: Trial) -> float | None:
        """Watch the windows after the revert until the recovery instant, or the timeout.

        Found request by request (``analysis/recovery.py``): the first request from which
        the SLO holds over ``stable_windows × window_ms``. Sets ``trial.recovered_ns``.
        """
        revert_end_ns = trial.revert_end_ns
        deadline_ns = revert_end_ns + int(trial.recovery_timeout_s * 1e9)
        defaults = self.suite.defaults
        span_ns = defaults.stable_windows * defaults.window_ms * 1_000_000
        seen: list[Window] = []

        async def watch() -> float | None:
            async for window in self.feed.windows_after(revert_end_ns):
                seen.append(window)
                instant = recovery_instant_ns(
                    outcomes_of(seen),
                    self.suite.slo,
                    after_ns=revert_end_ns,
                    span_ns=span_ns,
                    measured_until_ns=window.end_ns,
                    deadline_ns=deadline_ns,
                )
                if instant is not None:
                    trial.recovered_ns = instant
                    return (instant - revert_end_ns) / 1e6
                if window.start_ns >= deadline_ns + span_ns:
                    return None  # every span that may start before the deadline is judged
            return None

        remaining_s = (deadline_ns + span_ns - now_ns()) / 1e9 + trial.request_timeout_s + 5
        try:
            return await asyncio.wait_for(watch(), max(remaining_s, 1.0))
        except TimeoutError:
            return None


def _target(params: FaultParams) -> str:
    """What a fault acts on, for its interval in the report: the names it references."""
    return ", ".join(dict.fromkeys(ref.name for ref in params.references()))


def _steady_state_reason(steady: Window, suite: Suite) -> str:
    if steady.requests == 0:
        return "steady state did not hold before injection: no request completed in the baseline"
    ratio = steady.success_ratio or 0.0
    p99 = steady.percentile_ms(99.0)
    parts = [f"success {ratio:.1%} (SLO {suite.slo.success_ratio:.1%})"]
    if suite.slo.p99_ms is not None and p99 is not None:
        parts.append(f"p99 {p99:.0f} ms (SLO {suite.slo.p99_ms:g} ms)")
    return "steady state did not hold before injection, so nothing was injected: " + ", ".join(
        parts
    )
