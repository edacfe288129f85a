"""The JSON report: the full run record, and the design sketch's ``report()`` dict.

The file holds every field of :class:`RunRecord`, computed ones included (``grade``,
``success_ratio``) so that readers need not recompute them; reading it back is the model's
own job (``RunRecord.model_validate_json``: each model drops its computed fields itself).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chaos_workbench.model import RunRecord

__all__ = ["from_json", "read_json", "report_dict", "to_json", "write_json"]


def to_json(record: RunRecord) -> str:
    """The whole record as indented JSON."""
    return record.model_dump_json(indent=2) + "\n"


def from_json(text: str) -> RunRecord:
    """Read a record written by :func:`to_json` (computed fields are ignored)."""
    return RunRecord.model_validate_json(text)


def write_json(record: RunRecord, path: Path) -> None:
    """Write :func:`to_json` to ``path`` (via a temporary file, so it is never half written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(to_json(record), encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path) -> RunRecord:
    return from_json(path.read_text(encoding="utf-8"))


def report_dict(record: RunRecord) -> dict[str, Any]:
    """The design sketch's ``report()``: ``service, experiments, recovery_rate, grade,
    results[fault, description, recovered, impact]``, plus what the product adds.

    A plain dict on purpose: it is the sketch's public shape, for JSON and quick scripts.
    ``recovery_rate`` and ``grade`` are None when no experiment was conclusive.
    """
    score = record.score
    return {
        "service": record.service,
        "run_id": record.run_id,
        "started_at": record.started_at,
        "duration_s": record.duration_s,
        "seed": record.seed,
        "experiments": len(record.results),
        "recovery_rate": None if score is None else score.recovery_rate,
        "grade": None if score is None else score.grade,
        "score": None if score is None else score.model_dump(mode="json"),
        "warmup_s": record.warmup_s,
        "interrupted": record.interrupted,
        "parallel": record.parallel,
        "breaking_points": [p.model_dump(mode="json") for p in record.breaking_points],
        "results": [
            {
                "name": r.name,
                "fault": str(r.fault_type),
                "description": r.description,
                "recovered": r.recovered,
                "impact": str(r.impact),
                "recovery_time_ms": r.recovery_time_ms,
                "revert_ms": r.revert_ms,
                "disruption_ms": r.disruption_ms,
                "error_burst_ms": r.error_burst_ms,
                "status": str(r.status),
                "passed": r.passed,
                "reason": r.reason,
                "expectation": r.expectation,
                "weight": r.weight,
                "copy": r.copy_name,
                "control": None if r.control is None else r.control.model_dump(mode="json"),
                "faults": [i.model_dump(mode="json") for i in r.faults],
                "sweep": None if r.sweep is None else r.sweep.model_dump(mode="json"),
            }
            for r in record.results
        ],
    }
