"""The terminal scorecard: one rich table row per experiment, then the grade.

Every row says why: a failed experiment shows which expectation it missed, an
inconclusive one why the steady state did not hold, an error what could not be applied.
"""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from chaos_workbench.model import ExperimentStatus, RunRecord
from chaos_workbench.reports._format import (
    fault_label,
    impact_text,
    recovered_text,
    recovery_time_text,
    score_line,
    verdict_text,
)

__all__ = ["print_scorecard", "scorecard", "scorecard_text"]

_STYLES = {
    ExperimentStatus.PASSED: "bold green",
    ExperimentStatus.FAILED: "bold red",
    ExperimentStatus.INCONCLUSIVE: "yellow",
    ExperimentStatus.ABORTED: "bold magenta",
    ExperimentStatus.ERROR: "bold red",
}
_GRADE_STYLES = {"A": "bold green", "B": "green", "C": "yellow", "D": "red", "F": "bold red"}


def scorecard(record: RunRecord) -> Group:
    """The scorecard as a rich renderable: the table, then the grade line."""
    table = Table(title=f"Chaos Workbench: {record.service}", title_justify="left")
    # The verdict and its reason matter most: it gets the spare width on narrow terminals.
    table.add_column("Experiment", overflow="fold", max_width=20)
    table.add_column("Fault", overflow="fold", max_width=24)
    table.add_column("Impact", max_width=10)
    table.add_column("Recovered", no_wrap=True)
    table.add_column("Recovery", justify="right", no_wrap=True)
    table.add_column("Verdict", overflow="fold", ratio=1)
    for result in record.results:
        verdict = Text(verdict_text(result), style=_STYLES[result.status])
        if result.reason:
            verdict.append(f": {result.reason}", style="default")
        if not result.measurements_reliable:
            verdict.append(" (load driver fell behind: measurements less reliable)", "dim")
        table.add_row(
            result.name,
            fault_label(result),
            impact_text(result),
            recovered_text(result),
            recovery_time_text(result),
            verdict,
        )
    grade = record.score.grade if record.score is not None else None
    summary = Text(score_line(record), style=_GRADE_STYLES.get(grade or "", "bold"))
    lines: list[Text | Table] = [table, summary]
    if record.interrupted:
        lines.append(Text("The run was interrupted: not every experiment ran.", "yellow"))
    lines.extend(Text(note, style="dim") for note in record.notes)
    return Group(*lines)


def print_scorecard(record: RunRecord, console: Console | None = None) -> None:
    """Print the scorecard to ``console`` (default: standard output)."""
    (console or Console()).print(scorecard(record))


def scorecard_text(record: RunRecord, width: int = 120) -> str:
    """The scorecard as plain text (no colour), e.g. for logs and tests."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False).print(
        scorecard(record)
    )
    return buffer.getvalue()
