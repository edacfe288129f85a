"""Run history in SQLite: every run's full record, listed and loaded by id.

Embedded (stdlib ``sqlite3``), one file, default ``.cwb/history.db`` under the current
directory. Each run is one row: the columns the listing shows, plus the whole record as
JSON, so that ``load`` gives back exactly what was saved. Saving a run id again replaces
it (a run re-saved when it finishes). ``PRAGMA user_version`` holds the schema version; a
file from a newer version is refused rather than misread.

Exceptions::

    StoreError (WorkbenchError)  the history cannot be opened, read or written
    ├── RunNotFound       no run has that id (or id prefix)
    └── AmbiguousRunId    an id prefix matches more than one run
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from pydantic import BaseModel, ConfigDict, ValidationError

from chaos_workbench.errors import WorkbenchError
from chaos_workbench.model import RunRecord

__all__ = [
    "DEFAULT_DB_PATH",
    "AmbiguousRunId",
    "RunNotFound",
    "RunStore",
    "RunSummary",
    "StoreError",
]

DEFAULT_DB_PATH = Path(".cwb") / "history.db"
SCHEMA_VERSION = 1
_BUSY_TIMEOUT_S = 10.0  # another cwb writing at the same moment: wait, do not fail

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id        TEXT PRIMARY KEY,
    service       TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    duration_s    REAL NOT NULL,
    grade         TEXT,
    score_percent REAL,
    experiments   INTEGER NOT NULL,
    passed        INTEGER NOT NULL,
    interrupted   INTEGER NOT NULL,
    saved_at      TEXT NOT NULL,
    record_json   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_service ON runs (service, started_at);
"""


class StoreError(WorkbenchError):
    """The history cannot be opened, read or written; the message says why."""


class RunNotFound(StoreError):
    """No run in the history has that id (or id prefix)."""


class AmbiguousRunId(StoreError):
    """An id prefix matches more than one run; the message lists them."""


class RunSummary(BaseModel):
    """One line of the history listing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    service: str
    started_at: str
    finished_at: str | None
    duration_s: float
    grade: str | None  # None: no experiment was conclusive
    score_percent: float | None
    experiments: int
    passed: int
    interrupted: bool


class RunStore:
    """The run history in one SQLite file. Use as a context manager, or call :meth:`close`."""

    def __init__(self, path: Path = DEFAULT_DB_PATH) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S)
            self._init_schema()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the run history {self.path}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"cannot create {self.path.parent}: {exc.strerror}") from exc

    def _init_schema(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            self._db.close()
            raise StoreError(
                f"{self.path} was written by a newer Chaos Workbench (history schema "
                f"{version}, this one reads {SCHEMA_VERSION}); upgrade, or use another --db"
            )
        with self._db:
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def __enter__(self) -> RunStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"cannot {doing} in {self.path}: {exc}") from exc

    def save(self, record: RunRecord) -> None:
        """Store a run (replacing an earlier save of the same run id)."""
        score = record.score
        row = (
            record.run_id,
            record.service,
            record.started_at,
            record.finished_at,
            record.duration_s,
            None if score is None else score.grade,
            None if score is None else score.recovery_rate,
            len(record.results),
            sum(1 for r in record.results if r.passed),
            int(record.interrupted),
            datetime.now(UTC).isoformat(timespec="seconds"),
            record.model_dump_json(),
        )
        with self._errors("save the run"), self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row
            )

    def list_runs(self, service: str | None = None, limit: int = 20) -> list[RunSummary]:
        """The most recent runs first (by start time), optionally of one service only."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        query = (
            "SELECT run_id, service, started_at, finished_at, duration_s, grade, score_percent,"
            " experiments, passed, interrupted FROM runs"
        )
        params: tuple[object, ...] = ()
        if service is not None:
            query += " WHERE service = ?"
            params = (service,)
        query += " ORDER BY started_at DESC, rowid DESC LIMIT ?"
        with self._errors("list runs"):
            rows = self._db.execute(query, (*params, limit)).fetchall()
        fields = RunSummary.model_fields
        return [RunSummary.model_validate(dict(zip(fields, row, strict=True))) for row in rows]

    def resolve(self, run_id: str) -> str:
        """The full id of the run ``run_id`` names: itself, or a unique prefix of one."""
        with self._errors("look up the run"):
            if self._db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone():
                return run_id
            escaped = run_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            rows = self._db.execute(
                "SELECT run_id FROM runs WHERE run_id LIKE ? ESCAPE '\\' ORDER BY run_id LIMIT 6",
                (escaped + "%",),
            ).fetchall()
        if not rows or not run_id:
            raise RunNotFound(f"no run {run_id!r} in {self.path} (see 'cwb history')")
        if len(rows) > 1:
            shown = ", ".join(r[0] for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
            raise AmbiguousRunId(f"{run_id!r} matches several runs: {shown}")
        return str(rows[0][0])

    def load(self, run_id: str) -> RunRecord:
        """The full record of a run, by id or unique id prefix."""
        full_id = self.resolve(run_id)
        with self._errors("load the run"):
            (text,) = self._db.execute(
                "SELECT record_json FROM runs WHERE run_id = ?", (full_id,)
            ).fetchone()
        try:
            return RunRecord.model_validate_json(text)
        except ValidationError as exc:
            raise StoreError(f"run {full_id!r} in {self.path} cannot be read: {exc}") from exc
