"""Chaos Toolkit's journal: the record ``chaos run`` writes to ``journal.json``.

The keys are chaoslib's (``run.py`` ``initialize_run_journal``, ``activity.py``
``execute_activity``): ``chaoslib-version`` (ours: ``chaos-workbench <version>``),
``platform``, ``node``, ``experiment`` (as written), ``start``, ``end``, ``duration``,
``status`` (completed, failed, aborted, interrupted), ``deviated``, ``steady_states``
(``before``, ``after``, ``during``), ``run`` and ``rollbacks`` (each activity's
``activity``, ``status`` succeeded/failed, ``output``, ``start``, ``end``, ``duration``,
and ``exception`` when it failed). A method probe whose tolerance was checked also has
``tolerance_met`` (a hypothesis probe has it as in chaoslib).
"""

from __future__ import annotations

import json
import os
import platform as _platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from chaos_workbench._version import __version__

__all__ = ["ActivityRun", "Journal", "SteadyState", "now_iso", "write_journal"]

Status = Literal["completed", "failed", "aborted", "interrupted"]


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


class ActivityRun(BaseModel):
    """One activity as it ran."""

    model_config = ConfigDict(frozen=True)

    activity: dict[str, JsonValue]
    status: Literal["succeeded", "failed"]
    output: JsonValue = None
    start: str
    end: str
    duration: float
    exception: list[str] | None = None
    tolerance_met: bool | None = None


class SteadyState(BaseModel):
    model_config = ConfigDict(frozen=True)

    steady_state_met: bool
    probes: list[ActivityRun]


def _empty_states() -> dict[str, SteadyState | list[SteadyState] | None]:
    return {"before": None, "after": None, "during": []}


class Journal(BaseModel):
    """The journal as it fills in during the run (the run mutates it; it is written once)."""

    model_config = ConfigDict(populate_by_name=True, validate_assignment=False)

    chaoslib_version: str = Field(
        default=f"chaos-workbench {__version__}", alias="chaoslib-version"
    )
    platform: str = Field(default_factory=_platform.platform)
    node: str = Field(default_factory=_platform.node)
    experiment: dict[str, JsonValue]
    start: str = Field(default_factory=now_iso)
    end: str | None = None
    duration: float | None = None
    status: Status | None = None
    deviated: bool = False
    steady_states: dict[str, SteadyState | list[SteadyState] | None] = Field(
        default_factory=_empty_states
    )
    run: list[ActivityRun] = Field(default_factory=list)
    rollbacks: list[ActivityRun] = Field(default_factory=list)
    cwb: dict[str, JsonValue] | None = None  # our measurement (the cwb extension), if any

    def as_json(self) -> str:
        data = self.model_dump(mode="json", by_alias=True)
        if data.get("cwb") is None:
            data.pop("cwb", None)
        for entry in (*data["run"], *data["rollbacks"], *_probes(data)):
            for key in ("exception", "tolerance_met"):
                if entry.get(key) is None:
                    entry.pop(key, None)
        return json.dumps(data, indent=2, default=str)


def _probes(data: dict[str, JsonValue]) -> list[dict[str, JsonValue]]:
    states = data["steady_states"]
    assert isinstance(states, dict)
    found: list[dict[str, JsonValue]] = []
    for state in (states["before"], states["after"], *(states["during"] or [])):  # type: ignore[misc]
        if isinstance(state, dict) and isinstance(state["probes"], list):
            found.extend(p for p in state["probes"] if isinstance(p, dict))
    return found


def write_journal(path: Path, journal: Journal) -> None:
    """Write the journal atomically (a reader never sees half of it)."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(journal.as_json() + "\n", encoding="utf-8")
    os.replace(temporary, path)
