"""Parallel runs: experiments spread over fresh copies of the system, beside a control copy.

With ``parallel: N`` the run starts a **control** copy (the same system, the same traffic,
never a fault) and keeps it for the whole run. Each experiment gets a copy of its own,
started fresh beside it and stopped after it (nothing carried over from an earlier
experiment), at most N at a time; its baseline begins once the control is steady. A fault whose scope is the host
(``faults.registry.scope_of``: CPU or memory pressure outside a copy's cgroup, a filesystem
every copy shares) runs **alone**: the experiments before it finish first, and the next one
starts only after it. Each verdict is then set against the control over the same interval
(``analysis/control.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from chaos_workbench.analysis.control import compare_with_control
from chaos_workbench.analysis.significance import assess_change
from chaos_workbench.engine.copies import Copy, start_copy
from chaos_workbench.engine.errors import RunAborted
from chaos_workbench.engine.experiment import ExperimentRunner
from chaos_workbench.engine.faults import fault_type_of
from chaos_workbench.engine.feed import FeedClosed
from chaos_workbench.engine.guardrails import GuardrailWatch
from chaos_workbench.engine.observers import RunObserver
from chaos_workbench.engine.warmup import WarmupFailed
from chaos_workbench.experiments.errors import SuiteError
from chaos_workbench.experiments.placeholders import CopyPlaces
from chaos_workbench.experiments.schema import ExperimentSpec, Suite
from chaos_workbench.faults.registry import FaultScope, scope_of
from chaos_workbench.host.names import safe_file_name
from chaos_workbench.model import ExperimentStatus, FaultResult, ImpactLevel

if TYPE_CHECKING:
    from chaos_workbench.engine.runner import _Run

__all__ = ["CONTROL", "experiment_scope", "run_in_copies"]

CONTROL = "control"
HOST_WIDE_NOTE = (
    "host-wide fault: ran alone (no other experiment at the same time); the control shares "
    "the host and felt it too, so the before-baseline is trusted for this one"
)


async def run_in_copies(run: _Run, stack: contextlib.AsyncExitStack) -> None:
    """Start the control, then every experiment on a fresh copy (``run.parallel`` at once)."""
    if run.suite.proxy_api:
        raise RunAborted(
            "parallel copies need the built-in fault proxy: proxy_api is one server that "
            "every copy would share (remove proxy_api, or run without --parallel)",
            exit_code=2,
        )
    # scipy.stats takes ~1 s to import: now, before anything measures, and not in the
    # middle of the first verdict, where it would stall every copy's traffic at once.
    importlib.import_module("scipy.stats")
    control = _Control(run)
    control.start()
    stack.push_async_callback(control.aclose)
    run.notes.append(
        f"parallel: {run.parallel} experiment copies at a time beside a control copy; "
        "each experiment on a freshly started copy"
    )
    finished: dict[int, FaultResult] = {}
    try:
        await _schedule(run, control, finished)
    finally:
        run.results.extend(finished[i] for i in sorted(finished))
    started = await control.wait()  # raises when the control never started
    run.warmup_s = started.warmup_s
    run.notes.extend(f"control: {note}" for note in started.notes)


class _Control:
    """The control copy, started beside the first experiment copies (not before them: a
    copy's start-up is most of a short experiment's time) and held in a task of its own
    until the run ends. Experiments wait for its steady state before their baseline."""

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.ready: asyncio.Future[Copy] = asyncio.get_running_loop().create_future()
        self.release = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._hold(), name="cwb-control")

    async def _hold(self) -> None:
        run = self.run
        try:
            async with contextlib.AsyncExitStack() as stack:
                copy = await start_copy(
                    stack,
                    CONTROL,
                    _copy_suite(run, run.run_dir / CONTROL),
                    run_dir=run.run_dir / CONTROL,
                    env=run.options.env,
                    seed=run.seed,
                    keep_requests=False,  # compared window by window, never request by request
                )
                self.ready.set_result(copy)
                await self.release.wait()
        except Exception as exc:
            if not self.ready.done():
                self.ready.set_exception(exc)

    async def wait(self) -> Copy:
        """The started control; raises :class:`RunAborted` when it could not start."""
        try:
            return await asyncio.shield(self.ready)
        except Exception as exc:
            raise RunAborted(f"the control copy could not start: {exc}") from exc

    async def aclose(self) -> None:
        """Stop the control (at once when it is still starting)."""
        self.release.set()
        if self.task is None:
            return
        if not self.ready.done():
            self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        if self.ready.done() and not self.ready.cancelled():
            self.ready.exception()  # retrieved: an unstarted control is reported by wait()


async def _schedule(run: _Run, control: _Control, finished: dict[int, FaultResult]) -> None:
    """Copy-local experiments up to ``run.parallel`` at once; host-wide ones alone."""
    slots = asyncio.Semaphore(run.parallel)
    running: set[asyncio.Task[None]] = set()
    stopped = asyncio.Event()  # stop_on_abort: an experiment was aborted

    async def one(index: int, spec: ExperimentSpec, alone: bool) -> None:
        try:
            result = await _experiment(run, control, index, spec, alone)
        finally:
            slots.release()
        finished[index] = result
        run.observers.experiment_finished(result)
        run.options.on_result(result)
        if result.status is ExperimentStatus.ABORTED and run.suite.stop_on_abort:
            run.notes.append(f"suite stopped after {spec.name!r} was aborted")
            stopped.set()

    async with asyncio.TaskGroup() as group:
        for index, spec in enumerate(run.experiments):
            alone = experiment_scope(spec) is FaultScope.HOST
            if alone:
                await _drain(running)
            await slots.acquire()
            if stopped.is_set() or _stop_requested(run):
                slots.release()
                break
            task = group.create_task(one(index, spec, alone), name=f"cwb-copy-{index + 1}")
            running.add(task)
            task.add_done_callback(running.discard)
            if alone:
                await _drain(running)


def experiment_scope(spec: ExperimentSpec) -> FaultScope:
    """Host-wide when any of the experiment's faults is: it must then run alone."""
    scopes = {scope_of(item.fault) for item in spec.schedule}
    return FaultScope.HOST if FaultScope.HOST in scopes else FaultScope.COPY


async def _drain(running: set[asyncio.Task[None]]) -> None:
    """Wait for every experiment in flight (their errors surface through the task group)."""
    if running:
        await asyncio.wait(set(running))


def _stop_requested(run: _Run) -> bool:
    return run.options.stop_requested is not None and run.options.stop_requested.is_set()


def _copy_suite(run: _Run, copy_dir: Path) -> Suite:
    """The suite read again with this copy's ports and directory (or as given)."""
    if run.options.copy_suite is None:
        return run.suite
    try:
        return run.options.copy_suite(CopyPlaces(copy_dir, taken=run.ports_taken))
    except SuiteError as exc:  # the file changed since the run started
        raise RunAborted(f"the suite could not be read for {copy_dir.name}: {exc}") from exc


@dataclass
class _Marks:
    """When the experiment's phases began (monotonic ns), from the runner's callbacks."""

    baseline_ns: int = 0
    injected_ns: int = 0
    revert_ns: int = 0

    def on_phase(self, forward: Callable[[str, str], None]) -> Callable[[str, str], None]:
        def on_phase(experiment: str, phase: str) -> None:
            now = time.monotonic_ns()
            if phase == "baseline":
                self.baseline_ns = now
            elif phase == "revert" and not self.revert_ns:
                self.revert_ns = now
            forward(experiment, phase)

        return on_phase


class _MarkingObserver(RunObserver):
    """The run's observers, plus the moment the fault was in place."""

    def __init__(self, marks: _Marks, forward: RunObserver) -> None:
        self.marks = marks
        self.forward = forward

    def experiment_started(self, experiment: str, fault: str, description: str) -> None:
        self.forward.experiment_started(experiment, fault, description)

    def applied(self, experiment: str, fault: str, description: str, error: str | None) -> None:
        if not self.marks.injected_ns:
            self.marks.injected_ns = time.monotonic_ns()
        self.forward.applied(experiment, fault, description, error)

    def reverted(self, experiment: str, fault: str, description: str, error: str | None) -> None:
        self.forward.reverted(experiment, fault, description, error)


async def _experiment(
    run: _Run, control_copy: _Control, index: int, spec: ExperimentSpec, alone: bool
) -> FaultResult:
    """One experiment on a copy of its own, started for it and stopped after it."""
    name = f"copy-{index + 1}"
    copy_dir = run.run_dir / "copies" / f"{index + 1:02d}-{safe_file_name(spec.name)}"
    scope = FaultScope.HOST if alone else FaultScope.COPY
    marks = _Marks()
    try:
        async with contextlib.AsyncExitStack() as stack:
            suite = _copy_suite(run, copy_dir)
            here = next((e for e in suite.experiments if e.name == spec.name), spec)
            copy = await start_copy(
                stack,
                name,
                suite,
                run_dir=copy_dir,
                env=run.options.env,
                seed=run.seed + index + 1,
                experiments=(here,),
            )
            runner = ExperimentRunner(
                suite=suite,
                feed=copy.feed,
                ctx=copy.ctx,
                journal=copy.journal,
                leases=copy.safety,
                on_phase=marks.on_phase(run.options.on_phase),
                observer=_MarkingObserver(marks, run.observers),
                reverted=run.reverted,
            )
            if run.options.stop_requested is not None:
                runner.stop = run.options.stop_requested
            guard = GuardrailWatch(
                suite,
                copy.feed,
                runner,
                run_dir=copy_dir,
                journal=copy.journal,
                requested=run.options.abort_requested,
            )
            guard.start()
            stack.push_async_callback(guard.aclose)
            control = await control_copy.wait()  # its steady state first, then the baseline
            result = await runner.run(here)
            run.notes.extend(f"{name}: {note}" for note in copy.notes)
            if marks.injected_ns and marks.revert_ns:
                result = await _against_control(run, control, copy, marks, result, alone)
    except WarmupFailed as exc:
        result = _not_run(
            run.suite, spec, ExperimentStatus.INCONCLUSIVE, f"{name} never got steady: {exc}"
        )
    except (RunAborted, FeedClosed) as exc:
        result = _not_run(
            run.suite, spec, ExperimentStatus.ERROR, f"{name} could not run it: {exc}"
        )
    return result.model_copy(update={"copy_name": name, "scope": scope.value, "ran_alone": alone})


async def _against_control(
    run: _Run, control: Copy, copy: Copy, marks: _Marks, result: FaultResult, alone: bool
) -> FaultResult:
    """The result with the control comparison (and interference) written into it."""
    if result.status not in (ExperimentStatus.PASSED, ExperimentStatus.FAILED):
        return result
    timeout_s = run.suite.request_timeout_ms / 1e3 + 10
    with contextlib.suppress(FeedClosed):
        await control.feed.wait_covered(marks.revert_ns, timeout_s=timeout_s)
    inside = [
        w
        for w in copy.feed.between(marks.injected_ns, marks.revert_ns)
        if w.start_ns >= marks.injected_ns and w.end_ns <= marks.revert_ns
    ]
    baseline = copy.feed.between(marks.baseline_ns, marks.injected_ns)
    slo, rng = run.suite.slo, copy.ctx.rng
    # The statistics take tens of milliseconds of CPU each: in a thread, so that they do
    # not hold up the event loop every copy's traffic driver shares (numpy releases the GIL).
    worse_than_baseline = await asyncio.to_thread(
        lambda: assess_change(baseline, inside, slo=slo, rng=rng).significant
    )
    comparison = await asyncio.to_thread(
        lambda: compare_with_control(
            fault=inside,
            control_fault=control.feed.between(marks.injected_ns, marks.revert_ns),
            control_before=control.feed.between(marks.baseline_ns, marks.injected_ns),
            worse_than_baseline=worse_than_baseline,
            slo=slo,
            rng=rng,
        )
    )
    if alone:
        comparison = comparison.model_copy(
            update={"interference": False, "trusted": "baseline", "explanation": HOST_WIDE_NOTE}
        )
    update: dict[str, object] = {"control": comparison}
    if comparison.interference and result.status is ExperimentStatus.FAILED:
        update["status"] = ExperimentStatus.INCONCLUSIVE
        update["reason"] = f"{comparison.explanation}; it failed: {result.reason}"
    return result.model_copy(update=update)


def _not_run(
    suite: Suite, spec: ExperimentSpec, status: ExperimentStatus, reason: str
) -> FaultResult:
    """The result of an experiment whose copy could not be started or measured."""
    return FaultResult(
        name=spec.name,
        fault_type=fault_type_of(spec.schedule[0].fault),
        description=spec.description or ", ".join(f.fault.type for f in spec.schedule),
        status=status,
        recovered=False,
        impact=ImpactLevel.NONE,
        reason=reason,
        weight=spec.weight,
    )
