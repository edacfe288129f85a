"""One experiment, for real: steady state → inject → hold → revert → recover → verdict.

Traffic runs the whole time; this module only reads the window feed, applies and reverts
the fault, and turns what was measured into a :class:`~chaos_workbench.model.FaultResult`.
The revert runs whatever happens — success, a failed apply, an exception, cancellation
(Ctrl-C, SIGTERM) — and cannot itself be interrupted half-way.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chaos_workbench.analysis.impact import (
    classify_impact,
    find_recovery,
    judge,
    phase_stats,
    window_holds_slo,
)
from chaos_workbench.analysis.significance import assess_change
from chaos_workbench.engine.feed import WindowFeed
from chaos_workbench.engine.journal import Journal
from chaos_workbench.errors import WorkbenchError
from chaos_workbench.experiments.schema import ExperimentSpec, Slo, Suite
from chaos_workbench.faults import Fault, FaultContext
from chaos_workbench.faults import registry as fault_registry
from chaos_workbench.model import (
    ExperimentStatus,
    FaultResult,
    ImpactLevel,
    TimelineEvent,
    WindowSummary,
)
from chaos_workbench.safety.actions import RevertAction
from chaos_workbench.traffic.window import Window, merge_windows

__all__ = ["ExperimentRunner", "LeaseHandle", "LeaseKeeper", "uncancellable"]


class LeaseHandle(Protocol):
    def update(self, actions: Sequence[RevertAction]) -> None: ...
    def release(self) -> None: ...


class LeaseKeeper(Protocol):
    def lease(
        self, experiment: str, fault: str, actions: Sequence[RevertAction]
    ) -> LeaseHandle: ...


async def uncancellable(step: Callable[[], Awaitable[None]]) -> None:
    """Run ``step`` to completion even if the caller is cancelled meanwhile.

    A revert cut in half is worse than a late one: cancellation is deferred until the step
    has finished, then re-raised.
    """
    task = asyncio.ensure_future(step())
    cancelled = False
    while True:
        try:
            await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                break
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    task.result()


def _now() -> int:
    return time.monotonic_ns()


@dataclass
class _Clock:
    """Timestamps of one experiment (monotonic ns) and its events for the timeline."""

    start_ns: int
    events: list[TimelineEvent] = field(default_factory=list)

    def mark(self, kind: str, message: str = "", at_ns: int | None = None) -> int:
        at = _now() if at_ns is None else at_ns
        self.events.append(
            TimelineEvent(t_s=(at - self.start_ns) / 1e9, kind=kind, message=message)
        )
        return at


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

    def _durations(self, spec: ExperimentSpec) -> tuple[float, float, float]:
        d = self.suite.defaults
        return (
            spec.baseline_s or d.baseline_s,
            spec.fault.duration_s or spec.fault_s or d.fault_s,
            spec.recovery_timeout_s or d.recovery_timeout_s,
        )

    def build_fault(self, spec: ExperimentSpec) -> Fault[Any]:
        """The fault, told how long it will be held (faults size their time-to-live by it)."""
        _, fault_s, _ = self._durations(spec)
        params = spec.fault.model_copy(update={"duration_s": fault_s})
        return fault_registry.get(spec.fault.type)(params, self.ctx)

    async def run(self, spec: ExperimentSpec) -> FaultResult:
        """Run one experiment; never raises for a fault that misbehaves (only cancellation)."""
        baseline_s, fault_s, recovery_timeout_s = self._durations(spec)
        timeout_s = self.suite.request_timeout_ms / 1e3
        fault = self.build_fault(spec)
        clock = _Clock(start_ns=_now())
        self.journal.write("experiment_start", experiment=spec.name, fault=fault.describe())
        base = _ResultBase(spec, fault, clock, self.suite.slo)

        # 1. Steady state.
        self.on_phase(spec.name, "baseline")
        baseline_end = clock.start_ns + int(baseline_s * 1e9)
        await self.feed.wait_covered(baseline_end, timeout_s=baseline_s + timeout_s + 10)
        baseline = self.feed.between(clock.start_ns, baseline_end)
        steady = merge_windows(baseline)
        if not window_holds_slo(steady, self.suite.slo):
            reason = _steady_state_reason(steady, self.suite)
            self.journal.write("inconclusive", experiment=spec.name, reason=reason)
            return base.finish(
                ExperimentStatus.INCONCLUSIVE,
                ImpactLevel.NONE,
                None,
                reason,
                self.feed.between(clock.start_ns, baseline_end),
                {},
            )

        # 2–4. Inject, hold, revert (always).
        self.abort.clear()
        self.abort_reason.clear()
        lease = None
        aborted = False  # only an abort while the fault is held counts (not one in recovery)
        apply_error: str | None = None
        inject_ns = clock.mark("inject", fault.describe())
        injected_ns = inject_ns
        try:
            try:
                # The lease is durable before anything is applied: no lease, no fault.
                if self.leases is not None:
                    lease = self.leases.lease(spec.name, fault.kind, fault.revert_actions())
                self.journal.write("inject", experiment=spec.name, fault=fault.describe())
                self.on_phase(spec.name, "fault")
                await fault.apply()
            except WorkbenchError as exc:  # a fault's, a process's or the host's refusal
                apply_error = str(exc)
            except Exception as exc:  # a broken fault fails its experiment, not the suite
                apply_error = f"{type(exc).__name__}: {exc}"
            injected_ns = clock.mark("injected")
            if lease is not None:
                lease.update(fault.revert_actions())
            if apply_error is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.abort.wait(), fault_s)
                if self.abort.is_set():
                    aborted = True
                    clock.mark("aborted", "; ".join(self.abort_reason))
        finally:
            revert_ns = clock.mark("revert")
            self.on_phase(spec.name, "revert")
            revert_error = await self._revert(fault, spec)
            revert_end_ns = clock.mark("reverted", revert_error or "")
            if lease is not None and revert_error is None:
                lease.release()
        if self.stop.is_set():  # stopped by a signal whose cancellation did not arrive
            raise asyncio.CancelledError
        if apply_error is not None or revert_error is not None:
            reason = (
                f"the fault could not be applied: {apply_error}"
                if apply_error
                else f"the fault could not be reverted: {revert_error}"
            )
            self.journal.write("error", experiment=spec.name, reason=reason)
            # Part of the fault may have acted before it failed: give the system its
            # recovery time, so the next experiment does not start on a hurt system.
            settled_ms = await self._await_recovery(revert_end_ns, recovery_timeout_s, timeout_s)
            windows = self.feed.between(clock.start_ns, _now())
            return base.finish(
                ExperimentStatus.ERROR, ImpactLevel.NONE, settled_ms, reason, windows, {}
            )

        # 5. Recover.
        self.on_phase(spec.name, "recovery")
        await self.feed.wait_covered(revert_ns, timeout_s=timeout_s + 10)
        # The fault phase is the windows wholly between "applied" and "revert starts": a
        # window straddling either edge mixes healthy and faulty requests. A fault held for
        # less than a window falls back to every window it touched.
        fault_windows = [
            w
            for w in self.feed.between(injected_ns, revert_ns)
            if w.start_ns >= injected_ns and w.end_ns <= revert_ns
        ] or self.feed.between(inject_ns, revert_ns)
        change = assess_change(baseline, fault_windows, slo=self.suite.slo, rng=self.ctx.rng)
        impact = classify_impact(
            fault_windows, self.suite.slo, self.suite.impact, significant_change=change.significant
        )
        if impact is ImpactLevel.NONE:
            recovery_ms: float | None = 0.0  # nothing to recover from
        else:
            recovery_ms = await self._await_recovery(revert_end_ns, recovery_timeout_s, timeout_s)
        if recovery_ms is not None:
            clock.mark(
                "recovered",
                f"{recovery_ms:.0f} ms after revert",
                revert_end_ns + int(recovery_ms * 1e6),
            )
        end_ns = _now()

        # 6. Verdict.
        if aborted:
            status, reason = ExperimentStatus.ABORTED, "aborted: " + "; ".join(self.abort_reason)
        else:
            status, reason = judge(impact, recovery_ms, spec.expect)
        self.journal.write(
            "verdict",
            experiment=spec.name,
            status=status.value,
            impact=impact.value,
            recovery_time_ms=recovery_ms,
            reason=reason,
        )
        phases = {
            "baseline": phase_stats(baseline),
            "fault": phase_stats(fault_windows),
            "recovery": phase_stats(self.feed.between(revert_end_ns, end_ns)),
        }
        return base.finish(
            status,
            impact,
            recovery_ms,
            reason,
            self.feed.between(clock.start_ns, end_ns),
            phases,
            findings=change.findings,
            reliable=_reliable(self.feed.between(clock.start_ns, end_ns)),
            phase_marks=(inject_ns, revert_end_ns),
        )

    async def _revert(self, fault: Fault[Any], spec: ExperimentSpec) -> str | None:
        error: list[str] = []

        async def step() -> None:
            try:
                await fault.revert()
            except Exception as exc:  # reported, and the lease stays for the watchdog
                error.append(f"{type(exc).__name__}: {exc}")

        await uncancellable(step)
        self.journal.write("reverted", experiment=spec.name, error=error[0] if error else None)
        if not error:
            self.reverted.append(f"{spec.name}: {fault.describe()}")
        return error[0] if error else None

    async def _await_recovery(
        self, revert_end_ns: int, recovery_timeout_s: float, request_timeout_s: float
    ) -> float | None:
        deadline_ns = revert_end_ns + int(recovery_timeout_s * 1e9)
        seen: list[Window] = []

        async def watch() -> float | None:
            async for window in self.feed.windows_after(revert_end_ns):
                if window.start_ns >= deadline_ns:
                    return None
                seen.append(window)
                found = find_recovery(
                    seen, revert_end_ns, self.suite.slo, self.suite.defaults.stable_windows
                )
                if found is not None:
                    return found
            return None

        remaining_s = (deadline_ns - _now()) / 1e9 + request_timeout_s + 5
        try:
            return await asyncio.wait_for(watch(), max(remaining_s, 1.0))
        except TimeoutError:
            return None


UNRELIABLE_WINDOW_SHARE = 0.10
"""Above this share of behind-schedule windows, an experiment's numbers are flagged.

A window is behind schedule when the driver sent more than 5 % of its requests over 10 ms
late (``traffic/recorder.py``): a moment of CPU contention flags one window, which does not
make the whole experiment's measurement doubtful; a saturated driver flags most of them.
"""


def _reliable(windows: Sequence[Window]) -> bool:
    if not windows:
        return True
    behind = sum(1 for w in windows if w.behind_schedule)
    return behind <= UNRELIABLE_WINDOW_SHARE * len(windows)


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


@dataclass
class _ResultBase:
    spec: ExperimentSpec
    fault: Fault[Any]
    clock: _Clock
    slo: Slo

    def finish(
        self,
        status: ExperimentStatus,
        impact: ImpactLevel,
        recovery_ms: float | None,
        reason: str,
        windows: Sequence[Window],
        phases: dict[str, Any],
        *,
        findings: Sequence[str] = (),
        reliable: bool = True,
        phase_marks: tuple[int, int] | None = None,
    ) -> FaultResult:
        expect = self.spec.expect
        expectation = f"impact <= {expect.max_impact.value}" + (
            f", recovered within {expect.recovery_within_s:g} s"
            if expect.recovery_within_s is not None
            else ", recovered before the timeout"
        )
        return FaultResult(
            name=self.spec.name,
            fault_type=self.fault.fault_type,
            description=self.spec.description or self.fault.describe(),
            status=status,
            recovered=recovery_ms is not None,
            impact=impact,
            recovery_time_ms=None if recovery_ms is None else round(recovery_ms, 1),
            reason=reason,
            details=self.fault.describe(),
            weight=self.spec.weight,
            phases=phases,
            findings=tuple(findings),
            expectation=expectation,
            timeline=_timeline(windows, self.clock.start_ns, phase_marks, self.slo),
            events=tuple(self.clock.events),
            measurements_reliable=reliable,
        )


def _timeline(
    windows: Sequence[Window], start_ns: int, marks: tuple[int, int] | None, slo: Slo
) -> tuple[WindowSummary, ...]:
    """Per-window summaries labelled by phase (marks: inject time, revert end)."""
    out = []
    for w in windows:
        if marks is None or w.start_ns < marks[0]:
            phase = "baseline"
        elif w.start_ns < marks[1]:
            phase = "fault"
        else:
            phase = "recovery"
        out.append(
            WindowSummary(
                t_s=round((w.start_ns - start_ns) / 1e9, 3),
                phase=phase,
                requests=w.requests,
                successes=w.successes,
                p50_ms=w.percentile_ms(50.0),
                p99_ms=w.percentile_ms(99.0),
                slo_ok=window_holds_slo(w, slo),
            )
        )
    return tuple(out)
