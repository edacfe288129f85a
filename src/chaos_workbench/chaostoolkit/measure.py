"""Measure a Chaos Toolkit run as our suites are measured (the ``cwb`` extension).

The load driver (or protocol probe) is the one a suite uses (``traffic.LoadDriver``,
``probes.probe_driver``), with ``keep_requests`` on as in ``engine.runner._measure``; it
runs on an event loop of its own thread, since the Chaos Toolkit run is synchronous, and
its windows are collected in order. (``engine.feed.WindowFeed`` is not used: the engine
and this package are independent layers, and the feed is awaited on one event loop where
this run waits from plain threads.)

The phases come from the run's marks (``Run.marks``, monotonic ns):

* **baseline**: the windows wholly before the method starts (at least
  ``baseline_windows``: the method waits for them when the hypothesis was quicker);
* **fault**: the windows wholly between the start of the method's first activity and the
  end of its last (background ones included); the windows it touched when it was shorter;
* **recovery**: from the end of the rollbacks, found request by request as the engine does
  (``analysis.recovery.recovery_instant_ns``: the SLO holds over
  ``stable_windows × window_ms``), up to ``recovery_timeout_s``.

The impact is ``analysis.impact.classify_impact`` (with ``analysis.significance``), the
verdict ``analysis.impact.judge`` against ``expect`` and then Chaos Toolkit's outcome:
the experiment passes when the run completed, did not deviate, and met ``expect``
(by default: recovered within ``recovery_timeout_s``, any impact).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chaos_workbench.analysis.impact import (
    classify_impact,
    judge,
    phase_stats,
    window_holds_slo,
)
from chaos_workbench.analysis.recovery import first_breaking_ns, recovery_instant_ns
from chaos_workbench.analysis.significance import assess_change
from chaos_workbench.chaostoolkit.extension import CwbExtension
from chaos_workbench.chaostoolkit.journal import Journal
from chaos_workbench.chaostoolkit.model import Experiment
from chaos_workbench.chaostoolkit.record import fault_type_of
from chaos_workbench.model import (
    ExperimentStatus,
    FaultResult,
    ImpactLevel,
    PhaseStats,
    TimelineEvent,
    WindowSummary,
)
from chaos_workbench.probes import ProbeDriver, probe_driver
from chaos_workbench.traffic.driver import LoadDriver
from chaos_workbench.traffic.window import Window, merge_windows, outcomes_of

__all__ = ["Marks", "Measurement", "measured_result"]


@dataclass
class Marks:
    """When the run's parts began and ended (``time.monotonic_ns()``); None: did not run."""

    method_start_ns: int | None = None
    method_end_ns: int | None = None
    rollbacks_start_ns: int | None = None
    rollbacks_end_ns: int | None = None


class Measurement:
    """The driver's windows, collected from a thread of its own while the run goes on."""

    def __init__(self, spec: CwbExtension, seed: int) -> None:
        self.spec = spec
        self.seed = seed
        self.rng = random.Random(seed)
        self.started_ns = 0
        self.error: str | None = None
        self._windows: list[Window] = []
        self._changed = threading.Condition()
        self._closed = False
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._driver: LoadDriver | ProbeDriver | None = None
        self._thread = threading.Thread(target=self._main, name="cwb-measure", daemon=True)

    @property
    def request_timeout_s(self) -> float:
        spec = self.spec.traffic or self.spec.probe
        assert spec is not None
        return spec.timeout_ms / 1000

    # -- the driver's thread ---------------------------------------------------------------

    def start(self) -> None:
        self.started_ns = time.monotonic_ns()
        self._thread.start()
        self._ready.wait(30.0)

    def _main(self) -> None:
        try:
            asyncio.run(self._drive())
        except Exception as exc:  # reported in the result; the Chaos Toolkit run goes on
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._ready.set()
            with self._changed:
                self._closed = True
                self._changed.notify_all()

    async def _drive(self) -> None:
        spec = self.spec
        driver: LoadDriver | ProbeDriver
        if spec.traffic is not None:
            driver = LoadDriver(spec.traffic, window_ms=spec.window_ms, rng=self.rng)
        else:
            assert spec.probe is not None
            driver = probe_driver(spec.probe, window_ms=spec.window_ms, rng=self.rng)
        driver.keep_requests = True  # recovery is found request by request
        async with driver:
            self._loop, self._driver = asyncio.get_running_loop(), driver
            self._ready.set()
            async for window in driver.windows():
                with self._changed:
                    self._windows.append(window)
                    self._changed.notify_all()

    def stop(self) -> None:
        """Stop sending; wait (bounded) for what is in flight and the last windows."""
        loop, driver = self._loop, self._driver
        if loop is not None and driver is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                loop.call_soon_threadsafe(driver.stop)
        self._thread.join(self.request_timeout_s + 10.0)

    # -- reading the windows ---------------------------------------------------------------

    def windows(self) -> list[Window]:
        with self._changed:
            return list(self._windows)

    def wait_until(self, done: Callable[[list[Window]], bool], timeout_s: float) -> bool:
        """Wait until ``done(windows)``; False at the timeout or when the driver stopped."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not done(self._windows):
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def wait_for_baseline(self) -> bool:
        """Before the method: at least ``baseline_windows`` windows measured."""
        wanted = self.spec.baseline_windows
        timeout_s = self.spec.baseline_timeout_s + self.request_timeout_s
        return self.wait_until(lambda windows: len(windows) >= wanted, timeout_s)

    def recovery_instant_ns(self, after_ns: int) -> int | None:
        """Watch the windows after ``after_ns`` until the recovery instant, or the timeout
        (``analysis.recovery``, as the engine finds it)."""
        spec = self.spec
        deadline_ns = after_ns + int(spec.recovery_timeout_s * 1e9)
        span_ns = spec.stable_windows * spec.window_ms * 1_000_000
        give_up = time.monotonic() + (deadline_ns + span_ns - time.monotonic_ns()) / 1e9
        give_up += self.request_timeout_s + 5.0
        found: list[int] = []

        def recovered(windows: list[Window]) -> bool:
            after = [w for w in windows if w.end_ns > after_ns]
            if not after:
                return False
            instant = recovery_instant_ns(
                outcomes_of(after),
                spec.slo,
                after_ns=after_ns,
                span_ns=span_ns,
                measured_until_ns=after[-1].end_ns,
                deadline_ns=deadline_ns,
            )
            if instant is not None:
                found.append(instant)
                return True
            return after[-1].start_ns >= deadline_ns + span_ns  # every candidate judged

        self.wait_until(recovered, max(1.0, give_up - time.monotonic()))
        return found[0] if found else None


# -- the result ------------------------------------------------------------------------------


def measured_result(
    measurement: Measurement, experiment: Experiment, journal: Journal, marks: Marks
) -> FaultResult:
    """The experiment's FaultResult: impact, recovery, disruption and the verdict.

    Call it after the rollbacks: it waits for the recovery (at most ``recovery_timeout_s``).
    """
    spec, slo = measurement.spec, measurement.spec.slo
    start_ns = measurement.started_ns
    method_start, method_end = marks.method_start_ns, marks.method_end_ns
    revert_end = marks.rollbacks_end_ns or time.monotonic_ns()
    base = _Base(experiment, spec, measurement, marks)
    if method_start is None or method_end is None:
        return base.finish(
            ExperimentStatus.INCONCLUSIVE,
            ImpactLevel.NONE,
            None,
            "the method did not run (the steady-state hypothesis was not met before it, "
            "or the run stopped first): nothing was injected",
        )
    baseline = [w for w in measurement.windows() if w.end_ns <= method_start]
    if measurement.error is not None or not baseline:
        why = measurement.error or "no measurement window ended before the method started"
        return base.finish(ExperimentStatus.ERROR, ImpactLevel.NONE, None, f"measurement: {why}")
    if len(baseline) < spec.baseline_windows or not window_holds_slo(merge_windows(baseline), slo):
        return base.finish(
            ExperimentStatus.INCONCLUSIVE,
            ImpactLevel.NONE,
            None,
            "the SLO did not hold before the method "
            f"({_phase_text(baseline)}): the impact cannot be told from the baseline",
        )
    measurement.wait_until(lambda ws: bool(ws) and ws[-1].end_ns >= method_end, 10.0)
    fault = _fault_windows(measurement.windows(), method_start, method_end)
    # The statistics (CPU work, scipy's import) come after the recovery wait, not during
    # it: they only ever lower the impact to none, and they would delay the driver's sends.
    recovered_ns: int | None = revert_end
    if classify_impact(fault, slo, spec.impact) is not ImpactLevel.NONE:
        recovered_ns = measurement.recovery_instant_ns(revert_end)
    change = assess_change(baseline, fault, slo=slo, rng=measurement.rng)
    impact = classify_impact(fault, slo, spec.impact, significant_change=change.significant)
    if impact is ImpactLevel.NONE:
        recovered_ns = revert_end  # nothing to recover from
    recovery_ms = None if recovered_ns is None else max(0.0, (recovered_ns - revert_end) / 1e6)
    disruption_ms: float | None = 0.0
    if impact is not ImpactLevel.NONE:
        disruption_ms = _disruption_ms(measurement, method_start, recovered_ns)
    status, reason = judge(impact, recovery_ms, spec.expect)
    status, reason = _with_chaostoolkit(status, reason, journal)
    end_ns = time.monotonic_ns()
    windows = [w for w in measurement.windows() if w.start_ns < end_ns]
    return base.finish(
        status,
        impact,
        recovery_ms,
        reason,
        disruption_ms=disruption_ms,
        findings=change.findings,
        phases={
            "baseline": phase_stats(baseline),
            "fault": phase_stats(fault),
            "recovery": phase_stats([w for w in windows if w.end_ns > revert_end]),
        },
        timeline=_timeline(windows, start_ns, method_start, revert_end, measurement),
        recovered_ns=recovered_ns if impact is not ImpactLevel.NONE else None,
    )


def _fault_windows(windows: Sequence[Window], start_ns: int, end_ns: int) -> list[Window]:
    """Wholly within the method; the windows it touched when it was shorter than one."""
    inside = [w for w in windows if w.start_ns >= start_ns and w.end_ns <= end_ns]
    return inside or [w for w in windows if w.end_ns > start_ns and w.start_ns < end_ns]


def _disruption_ms(
    measurement: Measurement, after_ns: int, recovered_ns: int | None
) -> float | None:
    """From the first request that broke the SLO after the method started to recovery."""
    if recovered_ns is None:
        return None
    spec = measurement.spec
    windows = [
        w for w in measurement.windows() if w.end_ns > after_ns and w.start_ns < recovered_ns
    ]
    first_ns = first_breaking_ns(outcomes_of(windows), spec.slo, after_ns=after_ns)
    if first_ns is None or first_ns > recovered_ns:
        return 0.0
    return round((recovered_ns - first_ns) / 1e6, 1)


def _with_chaostoolkit(
    status: ExperimentStatus, reason: str, journal: Journal
) -> tuple[ExperimentStatus, str]:
    """Chaos Toolkit's outcome on top of ours: it fails (or aborts) what it would fail."""
    if journal.status == "interrupted":
        return ExperimentStatus.ABORTED, f"interrupted (Chaos Toolkit status); {reason}"
    problems = []
    if journal.status != "completed":
        problems.append(f"Chaos Toolkit status {journal.status}")
    if journal.deviated:
        problems.append("the steady-state hypothesis deviated after the method")
    if not problems:
        return status, reason
    if status is ExperimentStatus.PASSED:
        reason = reason.removesuffix(": within expectations")
    return ExperimentStatus.FAILED, "; ".join([*problems, reason])


def _phase_text(windows: Sequence[Window]) -> str:
    merged = merge_windows(windows)
    if merged.success_ratio is None:
        return "no request completed"
    p99 = merged.percentile_ms(99.0)
    text = f"success {merged.success_ratio:.1%} over {merged.requests} requests"
    return text if p99 is None else f"{text}, p99 {p99:.0f} ms"


def _timeline(
    windows: Sequence[Window],
    start_ns: int,
    method_start: int,
    revert_end: int,
    measurement: Measurement,
) -> tuple[WindowSummary, ...]:
    def phase(window: Window) -> str:
        if window.start_ns < method_start:
            return "baseline"
        return "fault" if window.start_ns < revert_end else "recovery"

    return tuple(
        WindowSummary(
            t_s=round((w.start_ns - start_ns) / 1e9, 3),
            phase=phase(w),
            requests=w.requests,
            successes=w.successes,
            p50_ms=w.percentile_ms(50.0),
            p99_ms=w.percentile_ms(99.0),
            slo_ok=window_holds_slo(w, measurement.spec.slo),
        )
        for w in windows
    )


@dataclass
class _Base:
    experiment: Experiment
    spec: CwbExtension
    measurement: Measurement
    marks: Marks

    def finish(
        self,
        status: ExperimentStatus,
        impact: ImpactLevel,
        recovery_ms: float | None,
        reason: str,
        *,
        disruption_ms: float | None = None,
        findings: Sequence[str] = (),
        phases: dict[str, PhaseStats] | None = None,
        timeline: tuple[WindowSummary, ...] = (),
        recovered_ns: int | None = None,
    ) -> FaultResult:
        marks, start_ns = self.marks, self.measurement.started_ns
        events = [
            TimelineEvent(t_s=round((at - start_ns) / 1e9, 3), kind=kind, message=message)
            for at, kind, message in (
                (marks.method_start_ns, "inject", "the method starts"),
                (marks.method_end_ns, "revert", "the method ended"),
                (marks.rollbacks_end_ns, "reverted", "the rollbacks ended"),
                (recovered_ns, "recovered", "the SLO holds again"),
            )
            if at is not None
        ]
        revert_ms = None
        if marks.rollbacks_start_ns is not None and marks.rollbacks_end_ns is not None:
            revert_ms = round((marks.rollbacks_end_ns - marks.rollbacks_start_ns) / 1e6, 1)
        expect = self.spec.expect
        expectation = f"impact <= {expect.max_impact.value}, recovered within " + (
            f"{expect.recovery_within_s:g} s"
            if expect.recovery_within_s is not None
            else f"{self.spec.recovery_timeout_s:g} s (the recovery timeout)"
        )
        return FaultResult.model_validate(
            {
                "name": self.experiment.title,
                "fault_type": self.spec.fault_type or fault_type_of(self.experiment),
                "description": self.experiment.description,
                "status": status,
                "recovered": recovery_ms is not None,
                "impact": impact,
                "recovery_time_ms": None if recovery_ms is None else round(recovery_ms, 1),
                "revert_ms": revert_ms,
                "disruption_ms": disruption_ms,
                "reason": reason,
                "details": "a Chaos Toolkit experiment, measured by its cwb extension",
                "phases": phases or {},
                "findings": tuple(findings),
                "expectation": expectation,
                "timeline": timeline,
                "events": tuple(events),
            }
        )
