"""Wording shared by every report, so the terminal, HTML, JUnit and Markdown agree."""

from __future__ import annotations

from chaos_workbench.model import ExperimentStatus, FaultResult, RunRecord

__all__ = [
    "fault_label",
    "impact_text",
    "recovered_text",
    "recovery_time_text",
    "score_line",
    "verdict_text",
]

_VERDICTS = {
    ExperimentStatus.PASSED: "PASS",
    ExperimentStatus.FAILED: "FAIL",
    ExperimentStatus.INCONCLUSIVE: "INCONCLUSIVE",
    ExperimentStatus.ABORTED: "ABORTED",
    ExperimentStatus.ERROR: "ERROR",
}

# Experiments that never reached a verdict on the service: impact and recovery mean nothing.
_NOT_RUN = (ExperimentStatus.INCONCLUSIVE, ExperimentStatus.ERROR)


def verdict_text(result: FaultResult) -> str:
    """``PASS``, ``FAIL``, ``INCONCLUSIVE``, ``ABORTED`` or ``ERROR``."""
    return _VERDICTS[result.status]


def fault_label(result: FaultResult) -> str:
    """The fault as people read it: its description, else its type."""
    return result.description or str(result.fault_type)


def impact_text(result: FaultResult) -> str:
    """``degraded``, ``partial outage``, … or ``-`` when the experiment did not run."""
    if result.status in _NOT_RUN:
        return "-"
    return str(result.impact).replace("_", " ")


def recovered_text(result: FaultResult) -> str:
    if result.status in _NOT_RUN:
        return "-"
    return "yes" if result.recovered else "no"


def recovery_time_text(result: FaultResult) -> str:
    """``0 ms``, ``850 ms``, ``2.4 s``; ``-`` when not measured."""
    if result.recovery_time_ms is None:
        return "-"
    ms = result.recovery_time_ms
    # Below 10 s whole milliseconds read better; above, tenths of a second are precise enough
    # (windows are 250 ms by default, so the figure is never finer than that anyway).
    return f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def score_line(record: RunRecord) -> str:
    """``Grade B: 85 % (3 of 4 passed, 1 inconclusive)`` or why there is no grade."""
    score = record.score
    if score is None:
        return "No grade: no experiment was conclusive (see the reasons above)"
    extra = f", {score.inconclusive} inconclusive" if score.inconclusive else ""
    return (
        f"Grade {score.grade}: {score.recovery_rate:g} % "
        f"({score.passed} of {score.total} passed{extra})"
    )
