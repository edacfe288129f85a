"""Wording shared by every report, so the terminal, HTML, JUnit and Markdown agree."""

from __future__ import annotations

from chaos_workbench.model import ExperimentStatus, FaultResult, RunRecord

__all__ = [
    "disruption_text",
    "duration_ms_text",
    "error_burst_text",
    "fault_label",
    "impact_text",
    "recovered_text",
    "recovery_time_text",
    "revert_text",
    "score_line",
    "verdict_text",
    "warmup_text",
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


def duration_ms_text(ms: float | None) -> str:
    """``0 ms``, ``850 ms``, ``2.4 s``; ``-`` for None."""
    if ms is None:
        return "-"
    # Below 10 s whole milliseconds read better; above, tenths of a second are precise
    # enough for a figure a person compares by eye.
    return f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def recovery_time_text(result: FaultResult) -> str:
    """From the end of the revert to the recovery instant; ``-`` when not measured."""
    return duration_ms_text(result.recovery_time_ms)


def revert_text(result: FaultResult) -> str:
    """How long the revert took (a restart, a thaw)."""
    return duration_ms_text(result.revert_ms)


def error_burst_text(result: FaultResult) -> str:
    """From the first failed request to the last; ``-`` when unknown."""
    if result.status in _NOT_RUN:
        return "-"
    return duration_ms_text(result.error_burst_ms)


def disruption_text(result: FaultResult) -> str:
    """From the first SLO-breaking request to the recovery instant; ``-`` when unknown."""
    if result.status in _NOT_RUN:
        return "-"
    return duration_ms_text(result.disruption_ms)


def warmup_text(record: RunRecord) -> str | None:
    """``Warm-up: steady state after 1.2 s`` (None when the run did not wait)."""
    if not record.warmup_s:
        return None
    return f"Warm-up: steady state after {record.warmup_s:.1f} s, before the first experiment"


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
