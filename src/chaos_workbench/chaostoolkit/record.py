"""What a measured Chaos Toolkit run becomes: our fault type, run record and journal key."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path

from pydantic import JsonValue

from chaos_workbench.chaostoolkit.model import Activity, Experiment, PythonProvider
from chaos_workbench.model import (
    ExperimentStatus,
    FaultResult,
    FaultType,
    ResilienceScore,
    RunRecord,
)

__all__ = ["fault_type_of", "journal_entry", "run_record"]

_TOXIC_TYPES = {
    "create_latency_toxic": FaultType.LATENCY,
    "create_bandwith_degradation_toxic": FaultType.NETWORK,
    "create_slow_connection_close_toxic": FaultType.NETWORK,
    "create_timeout_toxic": FaultType.NETWORK,
    "create_slicer_toxic": FaultType.NETWORK,
    "create_limiter_toxic": FaultType.NETWORK,
    "disable_proxy": FaultType.DEPENDENCY_DOWN,
    "delete_proxy": FaultType.DEPENDENCY_DOWN,
}


def fault_type_of(experiment: Experiment) -> FaultType:
    """From the method's chaostoxi actions (the first that says), else ``error``."""
    for item in experiment.method:
        if not isinstance(item, Activity) or not isinstance(item.provider, PythonProvider):
            continue
        provider = item.provider
        if not provider.module.startswith("chaostoxi."):
            continue
        if provider.func in _TOXIC_TYPES:
            return _TOXIC_TYPES[provider.func]
        if provider.func == "create_toxic":
            kind = provider.arguments.get("toxic_type")
            return FaultType.LATENCY if kind == "latency" else FaultType.NETWORK
    return FaultType.ERROR


def run_record(
    result: FaultResult, path: Path, seed: int, started: datetime, duration_s: float
) -> RunRecord:
    """Our record of the run, graded unless the experiment was inconclusive."""
    conclusive = result.status is not ExperimentStatus.INCONCLUSIVE
    stamp = started.strftime("%Y%m%d-%H%M%S")
    return RunRecord(
        run_id=f"ctk-{stamp}-{secrets.token_hex(2)}",
        service=result.name,
        suite_path=str(path),
        started_at=started.isoformat(timespec="seconds"),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
        duration_s=round(duration_s, 3),
        seed=seed,
        results=(result,),
        score=ResilienceScore.from_results([result]) if conclusive else None,
        notes=("a Chaos Toolkit experiment, measured by its cwb extension",),
    )


def journal_entry(record: RunRecord, report: Path | None) -> dict[str, JsonValue]:
    """The ``cwb`` key added to Chaos Toolkit's journal."""
    result = record.results[0]
    return {
        "status": result.status.value,
        "impact": result.impact.value,
        "recovery_time_ms": result.recovery_time_ms,
        "disruption_ms": result.disruption_ms,
        "grade": record.grade,
        "reason": result.reason,
        "report": None if report is None else str(report),
    }
