"""JUnit XML: one test case per experiment, for CI dashboards.

passed → a plain test case; failed and aborted → ``<failure>``; error → ``<error>``;
inconclusive → ``<skipped>`` (nothing was injected, so nothing was tested). The message is
the experiment's reason; the grade and score are suite properties.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from chaos_workbench.model import ExperimentStatus, FaultResult, RunRecord
from chaos_workbench.reports._compound import interval_lines, outcome_text, pair_text
from chaos_workbench.reports._control import control_lines
from chaos_workbench.reports._format import (
    disruption_text,
    error_burst_text,
    fault_label,
    impact_text,
    recovery_time_text,
    revert_text,
)

__all__ = ["to_junit_xml"]

_OUTCOME_TAG = {
    ExperimentStatus.FAILED: "failure",
    ExperimentStatus.ABORTED: "failure",
    ExperimentStatus.ERROR: "error",
    ExperimentStatus.INCONCLUSIVE: "skipped",
}


def _case_time_s(result: FaultResult) -> float:
    return sum(phase.duration_s for phase in result.phases.values())


def to_junit_xml(record: RunRecord) -> str:
    """The run as a ``<testsuites>`` document (UTF-8 declaration included)."""
    counts = {tag: 0 for tag in ("failure", "error", "skipped")}
    for result in record.results:
        tag = _OUTCOME_TAG.get(result.status)
        if tag is not None:
            counts[tag] += 1
    attrs = {
        "name": record.service,
        "tests": str(len(record.results)),
        "failures": str(counts["failure"]),
        "errors": str(counts["error"]),
        "skipped": str(counts["skipped"]),
        "time": f"{record.duration_s:.3f}",
    }
    root = ET.Element("testsuites", attrs)
    suite = ET.SubElement(root, "testsuite", {**attrs, "timestamp": record.started_at})
    properties = ET.SubElement(suite, "properties")
    values = {"run_id": record.run_id, "seed": str(record.seed)}
    if record.warmup_s is not None:
        values["warmup_s"] = f"{record.warmup_s:g}"
    if record.parallel:
        values["parallel"] = str(record.parallel)
    if record.score is not None:
        values |= {"grade": record.score.grade, "score": f"{record.score.recovery_rate:g}"}
    for point in record.breaking_points:  # each sweep value is its own test case below
        values[f"breaking_point.{point.sweep}"] = f"{point.parameter}: {pair_text(point)}"
    for name, value in values.items():
        ET.SubElement(properties, "property", {"name": name, "value": value})
    for result in record.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "name": result.name,
                "classname": f"cwb.{record.service}",
                "time": f"{_case_time_s(result):.3f}",
            },
        )
        tag = _OUTCOME_TAG.get(result.status)
        if tag is not None:
            message = f"{result.status.value}: {result.reason}" if result.reason else result.status
            outcome = ET.SubElement(case, tag, {"message": str(message)})
            if tag != "skipped":
                outcome.set("type", result.status.value)
                outcome.text = result.details or result.reason
        out = [
            f"fault: {fault_label(result)}",
            f"impact: {impact_text(result)}",
            f"recovery time: {recovery_time_text(result)}",
            f"revert: {revert_text(result)}",
            f"disruption: {disruption_text(result)}",
            f"requests failed for: {error_burst_text(result)}",
            *([f"expected: {result.expectation}"] if result.expectation else []),
            *interval_lines(result),
            *result.findings,
            *(f"control: {line}" for line in control_lines(result)),
        ]
        ET.SubElement(case, "system-out").text = "\n".join(out)
    if record.breaking_points:
        ET.SubElement(suite, "system-out").text = "\n".join(
            f"breaking point of {p.sweep}: {p.summary} ("
            + "; ".join(outcome_text(o) for o in p.points)
            + ")"
            for p in record.breaking_points
        )
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
