"""The traffic section of a suite: the load that measures the service, and its request mix.

The traffic package owns these models; ``experiments.schema`` composes them into a suite.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chaos_workbench.host.names import OsText
from chaos_workbench.host.units import WEEK_S, Milliseconds, PerSecond, Weight, non_finite_path

__all__ = ["RequestSpec", "StageSpec", "TrafficSpec"]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StageSpec(_Spec):
    """One stage of a load profile: move linearly to ``rate_per_s`` over ``duration_s``.

    The first stage starts from the traffic's ``rate_per_s``; a stage whose rate equals the
    previous one holds it. The load ends after the last stage (ramp down with a final stage
    to 0 if you want it gentle).
    """

    duration_s: float = Field(gt=0, le=WEEK_S, allow_inf_nan=False)
    rate_per_s: PerSecond


class RequestSpec(_Spec):
    """One entry of the request mix."""

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] = "GET"
    path: str = Field(default="/", pattern=r"^/")
    weight: Weight = 1.0
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @field_validator("json_body")
    @classmethod
    def _json_is_finite(cls, value: Any) -> Any:
        where = non_finite_path(value)
        if where is not None:
            at = f" (at {where})" if where else ""
            raise ValueError(f"NaN and Infinity are not JSON{at}: give a finite number")
        return value


class TrafficSpec(_Spec):
    """HTTP load that measures the service for the whole run (see docs/traffic.md).

    Open loop by default: requests leave at ``rate_per_s`` (or along ``stages``) whatever the
    service does, and latency counts from each request's intended send time. ``mode:
    closed`` runs ``users`` concurrent users instead (each waits for its answer; this hides
    stalls and exists for comparison). ``connections`` bounds the keep-alive pool (automatic
    when unset: it grows to rate × latency). Bodies, paths and headers may use the templates
    ``{{counter}}`` and ``{{random_id}}`` (from the run's seeded RNG).
    """

    url: str = Field(description="Base URL of the service, e.g. http://127.0.0.1:8080")
    rate_per_s: PerSecond = Field(default=50.0, gt=0)
    arrival: Literal["constant", "poisson"] = "constant"
    timeout_ms: Milliseconds = 2000.0
    connect_timeout_ms: Milliseconds = 1000.0
    connections: int | None = Field(default=None, gt=0, le=10_000)
    mode: Literal["open", "closed"] = "open"
    users: int | None = Field(default=None, gt=0, le=10_000)
    stages: tuple[StageSpec, ...] = ()
    verify_tls: bool = True
    ca_file: OsText | None = None
    requests: tuple[RequestSpec, ...] = Field(default=(RequestSpec(),), min_length=1)
    workers: int | None = Field(default=None, ge=1, le=256)  # distributed load (traffic.md)
    scheduler: str | None = None  # tcp://host:port of a running Dask scheduler

    @field_validator("scheduler")
    @classmethod
    def _check_scheduler(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme != "tcp" or not parts.hostname or parts.port is None:
            raise ValueError(f"expected a Dask scheduler address tcp://host:port, got {value!r}")
        return value

    @model_validator(mode="after")
    def _check_mode(self) -> TrafficSpec:
        if self.mode == "closed" and self.stages:
            raise ValueError("stages shape an open-loop rate; closed mode uses 'users'")
        if self.mode == "open" and self.users is not None:
            raise ValueError("'users' is for mode: closed (open loop uses rate_per_s)")
        if self.mode == "closed" and (self.workers is not None or self.scheduler is not None):
            raise ValueError("workers and scheduler split an open-loop rate; closed mode has none")
        return self

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"expected an http:// or https:// URL with a host, got {value!r}")
        return value.rstrip("/")
