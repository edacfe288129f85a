"""The terminal scorecard: one rich table row per experiment, the grade, then the reasons.

Every experiment says why: a failed one which expectation it missed, an inconclusive one
why the steady state did not hold, an error what could not be applied.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from chaos_workbench.model import ExperimentStatus, FaultResult, RunRecord
from chaos_workbench.reports._compound import interval_lines, pair_text
from chaos_workbench.reports._control import control_lines, parallel_text
from chaos_workbench.reports._format import (
    disruption_text,
    fault_label,
    impact_text,
    recovered_text,
    recovery_time_text,
    revert_text,
    score_line,
    verdict_text,
    warmup_text,
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
    """The scorecard as a rich renderable: the figures, the grade line, then each reason.

    Laid out for 80 columns (CI logs are not a terminal): the figures are a table, one row
    per experiment, and the reasons follow below as paragraphs wrapped between words. An
    experiment's name is never broken: when the longest name leaves no room for the table
    at the console's width, each experiment's figures go on a line under its name instead.
    """
    grade = record.score.grade if record.score is not None else None
    summary = Text(score_line(record), style=_GRADE_STYLES.get(grade or "", "bold"))
    lines: list[RenderableType] = [_Figures(record), summary]
    warmup = warmup_text(record)
    if warmup is not None:
        lines.append(Text(warmup, style="dim"))
    if record.interrupted:
        lines.append(Text("The run was interrupted: not every experiment ran.", "yellow"))
    parallel = parallel_text(record)
    if parallel is not None:
        lines.append(Text(parallel, style="dim"))
    for result in record.results:
        lines.append(_reason(result))
        lines.extend(Text(f"    {line}", style="dim") for line in control_lines(result))
        lines.extend(Text(f"    {line}", style="dim") for line in interval_lines(result))
    for point in record.breaking_points:  # one per sweep
        heading = Text(f"Breaking point of {point.sweep} ({point.parameter}): ", style="bold")
        heading.append(pair_text(point), style="bold red" if point.reached else "bold green")
        lines.append(heading.append(f". {point.summary}", style=""))
    lines.extend(Text(note, style="dim") for note in record.notes)
    return Group(*lines)


_COLUMNS = ("Impact", "Recovery", "Revert", "Disruption")


def _cells(result: FaultResult) -> tuple[str, str, str, str]:
    return (
        impact_text(result),
        recovery_cell(result),
        revert_text(result),
        disruption_text(result),
    )


class _Figures:
    """The per-experiment figures: a table where it fits the width, else stacked lines."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record

    def table(self) -> Table:
        table = Table(
            title=Text(f"Chaos Workbench: {self.record.service}", style="italic"),
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            collapse_padding=True,
        )
        table.add_column("Experiment", no_wrap=True)
        table.add_column("Impact", no_wrap=True)
        for header in _COLUMNS[1:]:
            table.add_column(header, justify="right", no_wrap=True)
        table.add_column("Verdict", no_wrap=True)
        for result in self.record.results:
            verdict = Text(verdict_text(result), style=_STYLES[result.status])
            table.add_row(Text(result.name), *_cells(result), verdict)  # never markup
        return table

    def stacked(self) -> Group:
        lines: list[RenderableType] = [Text(f"Chaos Workbench: {self.record.service}", "italic")]
        for result in self.record.results:
            lines.append(Text(result.name, style="bold"))
            figures = Text("    ")
            for header, cell in zip(_COLUMNS, _cells(result), strict=True):
                figures.append(f"{header.lower()} {cell} · ")
            figures.append(verdict_text(result), style=_STYLES[result.status])
            lines.append(figures)
        return Group(*lines)

    def __rich_console__(
        self, console: Console, options: ConsoleOptions
    ) -> Iterator[RenderableType]:
        table = self.table()
        # The natural width, every cell whole (no column here may wrap or be cut): measured
        # unbounded, since a measurement is clamped to the width it is given.
        natural = Measurement.get(console, options.update(max_width=10_000), table).maximum
        fits = natural <= options.max_width
        yield table if fits else self.stacked()


def recovery_cell(result: FaultResult) -> str:
    """The recovery time, or ``no`` when the service did not recover."""
    if recovered_text(result) == "no":
        return "no"
    return recovery_time_text(result)


def _reason(result: FaultResult) -> Text:
    line = Text(result.name, style="bold")
    line.append(f" ({fault_label(result)}): ")
    line.append(verdict_text(result), style=_STYLES[result.status])
    if result.reason:
        line.append(f": {result.reason}")
    if not result.measurements_reliable:
        line.append(" (load driver fell behind: measurements less reliable)", "dim")
    return line


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
