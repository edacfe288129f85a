"""The processes section of a suite: what the supervisor starts or adopts, and readiness.

The processes package owns these models; ``experiments.schema`` composes them into a suite.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ProcessSpec", "ReadinessSpec"]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReadinessSpec(_Spec):
    """How to tell that a (re)started process is ready to serve."""

    port: int | None = Field(default=None, gt=0, le=65535)
    host: str = "127.0.0.1"
    command: tuple[str, ...] | None = None
    log_line: str | None = None
    timeout_s: float = Field(default=30.0, gt=0)


class ProcessSpec(_Spec):
    """A process the workbench may act on: one it starts and supervises, or one by pid file."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    command: tuple[str, ...] | None = None
    pid_file: str | None = None
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    ready: ReadinessSpec = Field(default_factory=ReadinessSpec)
    memory_limit_mb: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _command_or_pid_file(self) -> ProcessSpec:
        if (self.command is None) == (self.pid_file is None):
            raise ValueError("give exactly one of 'command' (start and supervise) or 'pid_file'")
        return self
