"""Run a whole suite: set up the system and the instruments, run each experiment, record.

:func:`execute_suite` reads as the steps it performs, each a short function below, in the
order they run (torn down in reverse, whatever happens):

1. open the safety net (leases and the watchdog), before anything can be injected;
2. open the proxies (the built-in fault proxy, or the suite's Toxiproxy-compatible API),
   so their listeners accept before any process starts: a service that checks its
   dependency at start-up finds the proxy there (upstream connections are made when a
   client connects, so a dependency that is not up yet is simply refused, as it would be);
3. start the suite's processes, in order, each waited for until ready;
4. preflight every experiment's fault: refuse what the suite may not touch;
5. measure: start the load driver (or probe) and its window feed, wait for steady state
   (the warm-up, ``engine/warmup.py``), and start the guardrails;
6. run the experiments one after another (the next one's steady-state check makes sure
   the system is back before anything else is injected);
7. build the record, also when the run was cut short.

Steps 1–5 are ``engine/copies.py``'s. With ``parallel: N`` (or ``--parallel N``) steps 1–6
run once per experiment instead, each on a fresh copy of the system, beside a control copy
(``engine/scheduler.py``).

Around them, the run's observers (``engine.observers``): its ``/metrics`` when asked for
(``metrics_port``) and its OpenTelemetry spans when the ``otel`` extra is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import random
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chaos_workbench.analysis.breaking_point import breaking_points
from chaos_workbench.engine.copies import measure, open_system, preflight, private_dir, settle
from chaos_workbench.engine.errors import RunAborted
from chaos_workbench.engine.experiment import ExperimentRunner
from chaos_workbench.engine.feed import FeedClosed, WindowFeed
from chaos_workbench.engine.guardrails import GuardrailWatch
from chaos_workbench.engine.journal import Journal
from chaos_workbench.engine.observers import Observers, RunObserver
from chaos_workbench.experiments.placeholders import CopyPlaces
from chaos_workbench.experiments.schema import ExperimentSpec, Suite
from chaos_workbench.faults import FaultContext
from chaos_workbench.host.names import safe_file_name
from chaos_workbench.model import ExperimentStatus, FaultResult, ResilienceScore, RunRecord
from chaos_workbench.safety.net import SafetyNet

__all__ = ["RunAborted", "RunOptions", "default_run_dir", "execute_suite"]

DEFAULT_RUNS_DIR = Path(".cwb") / "runs"


@dataclass(frozen=True)
class RunOptions:
    """How to run a suite (everything the suite file itself does not say)."""

    run_dir: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    seed: int | None = None
    only: tuple[str, ...] = ()  # experiment names to run; all when empty
    on_phase: Callable[[str, str], None] = lambda experiment, phase: None
    on_result: Callable[[FaultResult], None] = lambda result: None
    abort_requested: asyncio.Event | None = None  # set it to abort the running experiment
    stop_requested: asyncio.Event | None = None  # set it to stop the run after reverting
    metrics_port: int | None = None  # serve the run's /metrics on 127.0.0.1 (0: any free port)
    on_metrics_url: Callable[[str], None] = lambda url: None  # told where, once serving
    tracer_provider: Any | None = None  # an OpenTelemetry TracerProvider (engine/tracing.py)
    parallel: int | None = None  # experiment copies at once (None: the suite's `parallel`)
    # The suite read again with one copy's placeholders (experiments/placeholders.py);
    # without it every copy runs the suite as given (fine when it names no fixed port).
    copy_suite: Callable[[CopyPlaces], Suite] | None = None


def default_run_dir(service: str) -> Path:
    """``.cwb/runs/<stamp>-<service>-<random>``: the service mapped to one safe component."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return DEFAULT_RUNS_DIR / f"{stamp}-{safe_file_name(service)}-{secrets.token_hex(2)}"


@dataclass
class _Run:
    """One run in progress: what it was asked, and what it has produced so far."""

    suite: Suite
    options: RunOptions
    experiments: tuple[ExperimentSpec, ...]
    run_dir: Path
    seed: int
    journal: Journal
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_ns: int = field(default_factory=time.monotonic_ns)
    results: list[FaultResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    runner: ExperimentRunner | None = None
    reverted: list[str] = field(default_factory=list)  # "experiment: fault", every copy's
    ports_taken: set[int] = field(default_factory=set)  # by every copy of a parallel run
    cut_short: bool = False
    measured_since_ns: int = 0  # when the load driver started
    warmup_s: float | None = None
    observers: Observers = field(default_factory=lambda: Observers([]))
    rng: random.Random = field(init=False)  # the run's one seeded RNG (see docs/analysis.md)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    @property
    def parallel(self) -> int:
        """Experiment copies at once; 0 runs them one after another on one system."""
        given = self.options.parallel
        return self.suite.parallel if given is None else given


async def execute_suite(
    suite: Suite,
    options: RunOptions,
    *,
    suite_path: Path | None = None,
    interrupted: asyncio.Event | None = None,
) -> RunRecord:
    """Run ``suite`` and return its record. Cancellation stops it after reverting.

    ``interrupted`` is set by the signal handler; the record then says the run was cut short.
    Raises :class:`RunAborted` when the run cannot start (nothing has been injected then).
    """
    run = _prepare(suite, options)
    run.observers = _observe(run)
    record: RunRecord | None = None
    failure: str | None = None
    try:
        record = await _execute(run, suite_path, interrupted)
    except BaseException as exc:
        failure = f"{type(exc).__name__}: {exc}".removesuffix(": ")
        raise
    finally:
        run.observers.run_finished(record, failure)
        run.observers.close()
    return record


def _observe(run: _Run) -> Observers:
    """The run's observers: /metrics when asked for, spans when OpenTelemetry is there."""
    from chaos_workbench.engine.tracing import open_tracing

    observers: list[RunObserver] = []
    if run.options.metrics_port is not None:
        from chaos_workbench.engine.metrics import RunMetrics

        try:
            metrics = RunMetrics(run.options.metrics_port)
        except OSError as exc:
            run.journal.close()
            raise RunAborted(
                f"cannot serve /metrics on 127.0.0.1:{run.options.metrics_port}: {exc}",
                exit_code=2,
            ) from exc
        observers.append(metrics)
        run.journal.write("metrics", url=metrics.url)
        run.options.on_metrics_url(metrics.url)
    tracer = open_tracing(run.options.tracer_provider, run.notes)
    if tracer is not None:
        observers.append(tracer)
    watching = Observers(observers)
    watching.run_started(run.suite.service, run.run_dir.name, run.seed)
    return watching


async def _execute(
    run: _Run, suite_path: Path | None, interrupted: asyncio.Event | None
) -> RunRecord:
    """The steps, in order (see the module's docstring)."""
    suite = run.suite
    try:
        async with contextlib.AsyncExitStack() as stack:
            if run.parallel:
                from chaos_workbench.engine.scheduler import run_in_copies

                await run_in_copies(run, stack)
            else:
                # scipy.stats takes ~1 s to import: in a thread while the system starts, not
                # in the first verdict on the event loop, where it would stall the traffic.
                statistics = asyncio.create_task(
                    asyncio.to_thread(importlib.import_module, "scipy.stats")
                )
                stack.push_async_callback(_settled, statistics)
                safety, ctx = await open_system(
                    stack,
                    suite,
                    run_dir=run.run_dir,
                    env=run.options.env,
                    seed=run.seed,
                    rng=run.rng,
                    notes=run.notes,
                )
                preflight(run.experiments, ctx, suite)
                await statistics
                feed = await _measure(run, stack)
                run.warmup_s = await settle(
                    suite, feed, run.journal, since_ns=run.measured_since_ns
                )
                run.runner = _experiment_runner(run, feed, ctx, safety)
                await _watch_guardrails(run, stack, feed, run.runner)
                await _run_experiments(run, run.runner)
    except asyncio.CancelledError:
        run.cut_short = True
        undone = run.runner.reverted if run.runner is not None else run.reverted
        run.notes.append(
            "interrupted; reverted before stopping: " + ("; ".join(undone) or "nothing was applied")
        )
    finally:
        duration_s = (time.monotonic_ns() - run.started_ns) / 1e9
        run.journal.write("run_end", interrupted=run.cut_short, duration_s=round(duration_s, 3))
        run.journal.close()
    if interrupted is not None and interrupted.is_set():
        run.cut_short = True
    run.notes.extend(f"an observer failed and was dropped: {e}" for e in run.observers.errors)
    return _record(run, suite_path, duration_s)


def _prepare(suite: Suite, options: RunOptions) -> _Run:
    """The run directory, the seed and the journal; which experiments to run."""
    experiments = _selected(suite, options.only)
    run_dir = options.run_dir or default_run_dir(suite.service)
    private_dir(run_dir)  # 0700 and ours: the watchdog and cleanup carry out its leases
    seed = options.seed if options.seed is not None else suite.seed
    if seed is None:
        seed = secrets.randbelow(2**32)
    journal = Journal(run_dir / "journal.jsonl")
    journal.write("run_start", service=suite.service, seed=seed, run_dir=str(run_dir))
    return _Run(suite, options, experiments, run_dir, seed, journal)


def _selected(suite: Suite, only: Sequence[str]) -> tuple[ExperimentSpec, ...]:
    """``--only``: experiments by name; a sweep's name (as written) selects all its values."""
    if not only:
        return suite.experiments

    def names(e: ExperimentSpec) -> set[str]:
        return {e.name} | ({e.sweep_of.sweep} if e.sweep_of is not None else set())

    known = set().union(*(names(e) for e in suite.experiments))
    unknown = [n for n in only if n not in known]
    if unknown:
        raise RunAborted(f"no experiment named {', '.join(unknown)} in the suite", exit_code=2)
    return tuple(e for e in suite.experiments if names(e) & set(only))


async def _measure(run: _Run, stack: contextlib.AsyncExitStack) -> WindowFeed:
    """5. The load driver (or the protocol probe) and the feed of its windows."""
    feed, run.measured_since_ns = await measure(run.suite, stack, rng=run.rng)
    if run.observers.wants_windows:
        task = asyncio.create_task(_pass_windows(feed, run.observers), name="cwb-observe")
        stack.push_async_callback(_cancel, task)
    return feed


async def _pass_windows(feed: WindowFeed, observers: RunObserver) -> None:
    """The feed's windows to the observers, from a task of their own (off the hot path)."""
    async for window in feed.windows_after(0):
        observers.window(window)


async def _settled(task: asyncio.Task[object]) -> None:
    """Wait for ``task`` (a thread cannot be cancelled); its error was or will be seen."""
    await asyncio.gather(task, return_exceptions=True)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _experiment_runner(
    run: _Run, feed: WindowFeed, ctx: FaultContext, safety: SafetyNet
) -> ExperimentRunner:
    runner = ExperimentRunner(
        suite=run.suite,
        feed=feed,
        ctx=ctx,
        journal=run.journal,
        leases=safety,
        on_phase=_both(run.options.on_phase, run.observers.phase),
        observer=run.observers,
    )
    if run.options.stop_requested is not None:
        runner.stop = run.options.stop_requested
    return runner


def _both(
    first: Callable[[str, str], None], then: Callable[[str, str], None]
) -> Callable[[str, str], None]:
    def on_phase(experiment: str, phase: str) -> None:
        first(experiment, phase)
        then(experiment, phase)

    return on_phase


async def _watch_guardrails(
    run: _Run, stack: contextlib.AsyncExitStack, feed: WindowFeed, runner: ExperimentRunner
) -> None:
    guard = GuardrailWatch(
        run.suite,
        feed,
        runner,
        run_dir=run.run_dir,
        journal=run.journal,
        requested=run.options.abort_requested,
        rng=random.Random(run.rng.random()),
    )
    guard.start()
    stack.push_async_callback(guard.aclose)


async def _run_experiments(run: _Run, runner: ExperimentRunner) -> None:
    """6. One experiment after another, until the last, a stop, or a broken measurement."""
    for spec in run.experiments:
        if runner.stop.is_set():
            raise asyncio.CancelledError
        try:
            result = await runner.run(spec)
        except FeedClosed as exc:
            run.notes.append(f"measurement stopped: {exc}")
            return
        run.results.append(result)
        run.observers.experiment_finished(result)
        run.options.on_result(result)
        if result.status is ExperimentStatus.ABORTED and run.suite.stop_on_abort:
            run.notes.append(f"suite stopped after {spec.name!r} was aborted")
            return


def _record(run: _Run, suite_path: Path | None, duration_s: float) -> RunRecord:
    """7. The record of the run, graded when at least one experiment was conclusive."""
    conclusive = [r for r in run.results if r.status is not ExperimentStatus.INCONCLUSIVE]
    return RunRecord(
        run_id=run.run_dir.name,
        service=run.suite.service,
        suite_path=str(suite_path) if suite_path else None,
        started_at=run.started.isoformat(timespec="seconds"),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=round(duration_s, 3),
        seed=run.seed,
        results=tuple(run.results),
        score=ResilienceScore.from_results(run.results) if conclusive else None,
        warmup_s=None if run.warmup_s is None else round(run.warmup_s, 3),
        interrupted=run.cut_short,
        notes=tuple(run.notes),
        parallel=run.parallel or None,
        breaking_points=breaking_points(run.results),
    )
