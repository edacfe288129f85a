"""``cwb watchdog`` and ``cwb cleanup``: the safety net's commands (wired into ``cwb``).

``cleanup`` ends whatever dead runs left behind: it reverts their faults from the lease
files, then stops the processes they started (``run_dir/started``) and removes their
temporary directories. With no argument it looks at every run directory under
``.cwb/runs``. A run whose controller is still alive is left alone unless ``--force``. It
prints each action it carried out and each thing it stopped, or "nothing to clean".
Exit code 0 when everything was reverted (or nothing was needed), 1 when an action failed.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from chaos_workbench.safety.cleanup import (
    DEFAULT_RUNS_ROOT,
    CleanupReport,
    clean_orphans,
    run_dirs_under,
)
from chaos_workbench.safety.watchdog import watch

__all__ = ["app", "cleanup", "print_reports", "watchdog"]

app = typer.Typer(help="The safety net: watchdog and cleanup of leftover faults.")


@app.command()
def watchdog(run_dir: Path = typer.Argument(..., help="The run directory to watch.")) -> None:
    """Watch a run and revert its faults if its controller stops renewing (used by cwb run)."""
    raise typer.Exit(watch(run_dir))


@app.command()
def cleanup(
    run_dirs: list[Path] = typer.Argument(
        None, help="Run directories (default: every one under .cwb/runs)."
    ),
    root: Path = typer.Option(DEFAULT_RUNS_ROOT, help="Where runs live, when none is given."),
    force: bool = typer.Option(False, help="Also revert runs whose controller looks alive."),
    stop_processes: bool = typer.Option(
        False,
        hidden=True,
        help="Kept for older scripts: stopping what a dead run started is now the default.",
    ),
) -> None:
    """Revert every fault a crashed or killed run left behind, and stop what it started."""
    dirs = list(run_dirs) if run_dirs else run_dirs_under(root)
    reports = clean_orphans(dirs, source="cleanup", force=force)
    console = Console(soft_wrap=True)  # paths stay on one line
    raise typer.Exit(0 if print_reports(reports, console) else 1)


def print_reports(reports: list[CleanupReport], console: Console) -> bool:
    """Print what cleanup did; True when nothing failed."""
    ok = True
    if all(r.nothing for r in reports):
        console.print("nothing to clean")
        return True
    for report in reports:
        if report.skipped:
            console.print(f"[yellow]{escape(str(report.run_dir))}: skipped: {report.skipped}[/]")
            continue
        for problem in report.problems:
            ok = False
            console.print(f"[red]{escape(problem)}[/]")
        for lease in report.leases:
            where = escape(str(report.run_dir))
            console.print(f"{where}: reverted {escape(lease.fault)} ({escape(lease.experiment)})")
            for outcome in lease.outcomes:
                mark = "[green]ok[/]" if outcome.ok else "[red]FAILED[/]"
                console.print(f"  {mark} {outcome.action.action}: {escape(outcome.detail)}")
                ok = ok and outcome.ok
        for line in report.stopped:
            console.print(f"{escape(str(report.run_dir))}: {escape(line)}")
    return ok
