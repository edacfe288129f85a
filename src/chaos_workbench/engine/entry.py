"""``run_suite``: what ``cwb run`` and ``cwb demo`` call — load the suite, run it with signal
handling, print progress and the scorecard, write the reports and the history."""

from __future__ import annotations

import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from chaos_workbench.engine.errors import RunAborted, RunInterrupted
from chaos_workbench.engine.runner import RunOptions, default_run_dir
from chaos_workbench.engine.session import run_suite_blocking
from chaos_workbench.experiments.loader import load_suite
from chaos_workbench.experiments.placeholders import CopyPlaces
from chaos_workbench.experiments.schema import Suite
from chaos_workbench.model import FaultResult, RunRecord
from chaos_workbench.reports import print_scorecard, write_report
from chaos_workbench.store import DEFAULT_DB_PATH, RunStore
from chaos_workbench.traffic.spec import TrafficSpec

__all__ = ["run_suite"]


def _progress(
    console: Console,
) -> tuple[Callable[[str, str], None], Callable[[FaultResult], None]]:
    def on_phase(experiment: str, phase: str) -> None:
        console.print(f"  [dim]{escape(experiment)}[/]: {phase}")

    def on_result(result: FaultResult) -> None:
        style = "green" if result.passed else "red"
        console.print(
            f"[bold]{escape(result.name)}[/]: [{style}]{result.status.value}[/] "
            f"(impact {result.impact.value}) {escape(result.reason)}"
        )

    return on_phase, on_result


def run_suite(
    path: Path,
    *,
    env: Mapping[str, str] | None = None,
    run_dir: Path | None = None,
    json_path: Path | None = None,
    report_paths: Sequence[Path] = (),
    seed: int | None = None,
    only: Sequence[str] = (),
    history_db: Path | None = DEFAULT_DB_PATH,
    console: Console | None = None,
    metrics_port: int | None = None,
    parallel: int | None = None,
    copy: CopyPlaces | None = None,
    scheduler: str | None = None,
) -> RunRecord:
    """Run the suite file at ``path`` for real and report it.

    ``parallel`` overrides the suite's ``parallel`` (experiment copies at once; 0: none);
    ``copy`` gives the placeholders of a sequential run (default: fresh ports, the run dir);
    ``scheduler`` (``tcp://host:port``) overrides ``traffic.scheduler``.
    Raises ``SuiteError`` (bad file), :class:`RunAborted` (could not start) or
    :class:`RunInterrupted` (stopped by a signal, after reverting; reports still written).
    """
    console = console or Console()
    suite = load_suite(path, env)
    run_dir = run_dir or default_run_dir(suite.service)
    # A sequential run is one copy, in the run directory; a parallel one reads the suite
    # again for each copy (its own ports and directory: experiments/placeholders.py).
    suite = with_scheduler(
        load_suite(path, env, copy=copy or CopyPlaces(run_dir.absolute())), scheduler
    )
    on_phase, on_result = _progress(console)

    def on_signal(sig: signal.Signals, count: int) -> None:
        if count == 1:
            console.print(f"[yellow]{sig.name}: stopping — reverting every applied fault…[/]")
        else:
            console.print(
                "[yellow]still reverting applied faults; stopping as soon as they are undone[/]"
            )

    console.print(
        f"[bold]{escape(suite.service)}[/]: {len(suite.experiments)} experiments; "
        f"run directory {escape(str(run_dir))}"
    )
    outcome = run_suite_blocking(
        suite,
        RunOptions(
            run_dir=run_dir,
            env=dict(env or {}),
            seed=seed,
            only=tuple(only),
            on_phase=on_phase,
            on_result=on_result,
            metrics_port=metrics_port,
            parallel=parallel,
            copy_suite=lambda places: with_scheduler(load_suite(path, env, copy=places), scheduler),
            on_metrics_url=lambda url: console.print(f"metrics: {escape(url)}"),
        ),
        suite_path=str(path),
        on_signal=on_signal,
    )
    record = outcome.record
    console.print()
    print_scorecard(record, console)
    written = [write_report(record, json_path or run_dir / "report.json")]
    written.append(write_report(record, run_dir / "report.html"))
    written.extend(write_report(record, p) for p in report_paths)
    for report in written:
        console.print(f"report: {report}")
    if history_db is not None:
        with RunStore(history_db) as store:
            store.save(record)
    if outcome.stopped_by is not None:
        raise RunInterrupted(outcome)
    return record


def with_scheduler(suite: Suite, scheduler: str | None) -> Suite:
    """``suite`` with its traffic driven from ``scheduler``'s Dask workers (``--scheduler``);
    a probe suite or a malformed address is refused (exit 2). Its host obeys the loopback
    rule when the traffic starts, as for ``traffic.scheduler`` in the file."""
    if scheduler is None:
        return suite
    if suite.traffic is None:
        raise RunAborted(
            "--scheduler drives HTTP traffic; this suite measures with a probe", exit_code=2
        )
    try:
        traffic = TrafficSpec.model_validate(
            {**suite.traffic.model_dump(by_alias=True, exclude_unset=True), "scheduler": scheduler}
        )
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]) for e in exc.errors())
        raise RunAborted(f"--scheduler: {reasons}", exit_code=2) from None
    return suite.model_copy(update={"traffic": traffic})
