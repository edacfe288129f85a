"""What a suite file got wrong: every mistake, each with its file, line and field path.

A suite is validated once, when it is loaded, and every mistake is reported at once so
that a user fixes the file in one pass instead of one error per run::

    suite.yaml:14: experiments[1].fault.latency_ms: Input should be greater than 0

Exceptions::

    SuiteError (WorkbenchError)  the file could not be read, parsed or validated (``.problems`` says where)
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field

from chaos_workbench.errors import WorkbenchError

__all__ = ["Problem", "SuiteError"]


class Problem(BaseModel):
    """One mistake in a suite file. ``line`` is 1-based; None when no line applies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    line: int | None = Field(default=None, ge=1)
    path: str = ""  # e.g. "experiments[1].fault.latency_ms"; empty for the file as a whole
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class SuiteError(WorkbenchError):
    """A suite file could not be read, parsed or validated; ``problems`` lists every mistake."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        ordered = sorted(set(problems), key=lambda p: (p.file, p.line or 0, p.path, p.message))
        if not ordered:
            raise ValueError("SuiteError needs at least one problem")
        self.problems: tuple[Problem, ...] = tuple(ordered)
        super().__init__("\n".join(str(p) for p in self.problems))
