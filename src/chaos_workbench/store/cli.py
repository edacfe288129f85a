"""``cwb history`` and ``cwb compare RUN_A RUN_B``: the run history from the terminal.

An unknown or ambiguous run id, or a history file that cannot be read, is a user mistake:
a one-line message on standard error and exit code 2, no traceback.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from chaos_workbench.store.compare import Change, RunComparison, compare
from chaos_workbench.store.history import DEFAULT_DB_PATH, RunStore, RunSummary, StoreError

__all__ = ["app", "comparison_table", "history_table"]

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)

DbOption = Annotated[
    Path,
    typer.Option("--db", envvar="CWB_HISTORY_DB", help="The history database.", show_default=True),
]

_CHANGE_STYLES = {
    Change.BETTER: "green",
    Change.WORSE: "bold red",
    Change.SAME: "dim",
    Change.INCOMPARABLE: "yellow",
}


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


def history_table(runs: list[RunSummary]) -> Table:
    table = Table(title="Run history", title_justify="left")
    for column in ("Run", "Started", "Service", "Grade", "Score", "Passed", "Duration"):
        table.add_column(
            column,
            justify="right" if column in ("Score", "Duration") else "left",
            no_wrap=column != "Service",
        )
    for run in runs:
        score = "-" if run.score_percent is None else f"{run.score_percent:g} %"
        passed = f"{run.passed}/{run.experiments}" + (" (interrupted)" if run.interrupted else "")
        table.add_row(
            run.run_id,
            _when(run.started_at),
            Text(run.service),  # a label may hold "[": plain text, never markup
            run.grade or "-",
            score,
            passed,
            f"{run.duration_s:.1f} s",
        )
    return table


def _when(iso: str) -> str:
    """ISO 8601 as ``2026-11-26 18:15:00Z`` (UTC); other text unchanged."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S") + ("Z" if moment.tzinfo is not None else "")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def comparison_table(cmp: RunComparison) -> Table:
    def score(value: float | None) -> str:
        return "-" if value is None else f"{value:g} %"

    delta = cmp.score_delta
    title = (
        f"{cmp.service_b}: grade {cmp.grade_a or '-'} → {cmp.grade_b or '-'}, "
        f"score {score(cmp.score_a)} → {score(cmp.score_b)}"
        + ("" if delta is None else f" ({delta:+g})")
    )
    table = Table(title=Text(title), title_justify="left")
    for column in ("Experiment", "Verdict", "Impact", "Recovery time", "Change"):
        table.add_column(column)
    for e in cmp.experiments:
        table.add_row(
            Text(e.name),
            f"{e.status_a.value} → {e.status_b.value}",
            f"{e.impact_a.value} → {e.impact_b.value}",
            f"{_ms(e.recovery_time_ms_a)} → {_ms(e.recovery_time_ms_b)}",
            Text(f"{e.change.value}: {e.why}", style=_CHANGE_STYLES[e.change]),
        )
    for name in cmp.added:
        table.add_row(Text(name), "", "", "", Text(f"new in {cmp.run_b}", style="cyan"))
    for name in cmp.removed:
        table.add_row(Text(name), "", "", "", Text(f"not in {cmp.run_b}", style="cyan"))
    return table


@app.command("history")
def history_command(
    db: DbOption = DEFAULT_DB_PATH,
    service: Annotated[str | None, typer.Option(help="Only runs of this service.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many runs, newest first.")] = 20,
) -> None:
    """List recent runs, newest first."""
    try:
        with RunStore(db) as store:
            runs = store.list_runs(service=service, limit=limit)
    except StoreError as exc:
        raise _fail(str(exc)) from None
    if not runs:
        typer.echo(f"no runs in {db}" + (f" for service {service!r}" if service else ""))
        return
    Console().print(history_table(runs))


@app.command("compare")
def compare_command(
    run_a: Annotated[str, typer.Argument(help="The earlier run (id or unique prefix).")],
    run_b: Annotated[str, typer.Argument(help="The later run (id or unique prefix).")],
    db: DbOption = DEFAULT_DB_PATH,
) -> None:
    """Compare two runs: grade, score, and each experiment's impact and recovery time."""
    try:
        with RunStore(db) as store:
            a, b = store.load(run_a), store.load(run_b)
    except StoreError as exc:
        raise _fail(str(exc)) from None
    cmp = compare(a, b)
    console = Console()
    if a.service != b.service:
        console.print(
            f"[yellow]note:[/] comparing different services "
            f"({escape(a.service)}, {escape(b.service)})"
        )
    console.print(comparison_table(cmp))
