"""The processes section of a suite: what the supervisor starts or adopts, and readiness.

The processes package owns these models; ``experiments.schema`` composes them into a suite.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chaos_workbench.host.names import EnvName, Identifier, OsText
from chaos_workbench.host.units import Megabytes, Seconds

__all__ = ["FileSpec", "ProcessSpec", "ReadinessSpec"]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReadinessSpec(_Spec):
    """How to tell that a (re)started process is ready to serve (every condition given)."""

    port: int | None = Field(default=None, gt=0, le=65535)
    host: str = "127.0.0.1"
    http: str | None = Field(
        default=None, description="Ready once a GET of this URL answers one of `status`."
    )
    status: tuple[int, ...] = Field(default=(200,), min_length=1)
    command: tuple[OsText, ...] | None = Field(default=None, min_length=1)
    log_line: str | None = None
    timeout_s: Seconds = 30.0

    @field_validator("http")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"expected an http:// or https:// URL with a host, got {value!r}")
        return value

    @field_validator("status", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, int) else value

    @field_validator("status")
    @classmethod
    def _http_codes(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        bad = [code for code in value if not 100 <= code <= 599]
        if bad:
            raise ValueError(f"HTTP status codes are 100..599, got {bad}")
        return value


class FileSpec(_Spec):
    """A file written before each start of the process: a configuration it reads.

    ``template`` names a file (relative to the suite file) that the suite loader reads and
    expands like the suite itself (``${VAR}``, ``${VAR:-default}``, ``$${``) into
    ``content``; ``content`` may also be given inline. The supervisor writes ``content`` to
    ``path`` (mode 0644, parent directories created) before every start and restart.
    """

    path: OsText
    template: OsText | None = None
    content: str | None = None

    @model_validator(mode="after")
    def _template_or_content(self) -> FileSpec:
        if self.template is None and self.content is None:
            raise ValueError("give 'template' (a file next to the suite) or 'content'")
        return self


class ProcessSpec(_Spec):
    """A process the workbench may act on: one it starts and supervises, or one by pid file."""

    name: Identifier
    command: tuple[OsText, ...] | None = Field(default=None, min_length=1)
    pid_file: OsText | None = None
    cwd: OsText | None = None
    env: dict[EnvName, OsText] = Field(default_factory=dict)
    ready: ReadinessSpec = Field(default_factory=ReadinessSpec)
    files: tuple[FileSpec, ...] = ()
    memory_limit_mb: Megabytes | None = None
    ports: tuple[Annotated[int, Field(gt=0, le=65535)], ...] = Field(
        default=(),
        description="Ports the process listens on besides ready.port (a selector names a "
        "process by any of them).",
    )

    @model_validator(mode="after")
    def _command_or_pid_file(self) -> ProcessSpec:
        if (self.command is None) == (self.pid_file is None):
            raise ValueError("give exactly one of 'command' (start and supervise) or 'pid_file'")
        return self
