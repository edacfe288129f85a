"""Words for the concurrent control group and the parallel run, shared by every report.

A sequential run has neither: each function then returns None or nothing, and the reports
look as they always did.
"""

from __future__ import annotations

from chaos_workbench.model import ControlComparison, FaultResult, RunRecord

__all__ = ["control_lines", "control_summary", "parallel_text"]


def parallel_text(record: RunRecord) -> str | None:
    """``Parallel: 4 copies at a time beside a control copy; interference in 1 experiment.``"""
    if not record.parallel:
        return None
    flagged = sum(1 for r in record.results if r.control is not None and r.control.interference)
    alone = sum(1 for r in record.results if r.ran_alone)
    text = f"Parallel: {record.parallel} experiment copies at a time beside a control copy"
    if alone:
        text += f"; {alone} host-wide experiment{'s' if alone != 1 else ''} ran alone"
    if flagged:
        text += f"; interference flagged in {flagged} experiment{'s' if flagged != 1 else ''}"
    return text + "."


def control_summary(control: ControlComparison) -> str:
    """One line: the verdict against the control, and what the control itself did."""
    versus = {
        True: "worse than the control",
        False: "no worse than the control",
        None: "too few requests to compare with the control",
    }[control.worse_than_control]
    ratio = control.control_success_ratio
    p99 = control.control_p99_ms
    own = (
        f"control over the same {control.interval_s:g} s: "
        f"{control.control_requests} requests"
        + ("" if ratio is None else f", {ratio:.1%} ok")
        + ("" if p99 is None else f", p99 {p99:.0f} ms")
    )
    flag = "INTERFERENCE: " if control.interference else ""
    return f"{flag}{versus} ({own}); trusted: {control.trusted}"


def control_lines(result: FaultResult) -> list[str]:
    """The control comparison of ``result`` as lines of text (none in a sequential run)."""
    if result.control is None:
        if result.copy_name is None:
            return []
        where = f"ran on {result.copy_name} ({result.scope or 'copy'} scope)"
        return [where + "; no control comparison (the fault did not run its course)"]
    lines = [
        f"ran on {result.copy_name} ({result.scope} scope"
        + (", alone" if result.ran_alone else "")
        + ")",
        control_summary(result.control),
        result.control.explanation,
    ]
    return [line for line in lines if line]
