"""Markdown for pull-request comments: the grade, the scorecard table, the reasons."""

from __future__ import annotations

from chaos_workbench.model import ExperimentStatus, RunRecord
from chaos_workbench.reports._compound import interval_lines, outcome_text, pair_text
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

__all__ = ["to_markdown"]

_ICONS = {
    ExperimentStatus.PASSED: "✅",
    ExperimentStatus.FAILED: "❌",
    ExperimentStatus.INCONCLUSIVE: "⚠️",
    ExperimentStatus.ABORTED: "🛑",
    ExperimentStatus.ERROR: "💥",
}


def _cell(text: str) -> str:
    """Table-safe: pipes escaped, line breaks folded (a cell is one line in Markdown)."""
    return " ".join(text.replace("|", "\\|").split())


def to_markdown(record: RunRecord) -> str:
    """The scorecard as GitHub-flavoured Markdown."""
    lines = [
        f"### Chaos Workbench: {_cell(record.service)}",
        "",
        f"**{score_line(record)}**",
        "",
        "| Experiment | Fault | Impact | Recovered | Recovery time | Revert | Disruption | Verdict |",
        "|---|---|---|---|---:|---:|---:|---|",
    ]
    for r in record.results:
        verdict = f"{_ICONS[r.status]} {verdict_text(r)}"
        if r.reason:
            verdict += f": {r.reason}"
        cells = (
            r.name,
            fault_label(r),
            impact_text(r),
            recovered_text(r),
            recovery_time_text(r),
            revert_text(r),
            disruption_text(r),
            verdict,
        )
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    compound = [(r.name, interval_lines(r)) for r in record.results if interval_lines(r)]
    for name, intervals in compound:
        lines += ["", f"**{_cell(name)}**, faults held:", *(f"- {_cell(i)}" for i in intervals)]
    if record.breaking_points:
        lines += ["", "#### Breaking points", "", "| Sweep | Parameter | Tolerated / breaks at |"]
        lines.append("|---|---|---|")
        for point in record.breaking_points:
            row = (point.sweep, point.parameter, pair_text(point))
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
        for point in record.breaking_points:
            values = "; ".join(outcome_text(o) for o in point.points)
            lines += ["", f"- **{_cell(point.sweep)}**: {_cell(point.summary)} ({_cell(values)})"]
    warmup = warmup_text(record)
    if warmup is not None:
        lines += ["", f"_{warmup}._"]
    if record.interrupted:
        lines += ["", "_The run was interrupted: not every experiment ran._"]
    parallel = parallel_text(record)
    if parallel is not None:  # the control group, experiment by experiment
        lines += ["", f"**{parallel}**", ""]
        for r in record.results:
            lines += [f"- **{_cell(r.name)}**: " + "; ".join(_cell(c) for c in control_lines(r))]
    lines += [
        "",
        f"<sub>run `{record.run_id}` · started {record.started_at} · "
        f"{record.duration_s:.1f} s · seed {record.seed}</sub>",
    ]
    return "\n".join(lines) + "\n"
