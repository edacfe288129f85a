"""Spec models of the protocol probes: measure a dependency directly, not through HTTP.

Each probe sends one small operation at a planned rate (open loop, like the HTTP driver)
and feeds the same windows. In a suite file::

    probes:
      - {kind: postgres, dsn: "postgresql://postgres@127.0.0.1:5432/postgres", query: "SELECT 1"}
      - {kind: valkey, url: "valkey://127.0.0.1:6379/0", command: [PING]}
      - {kind: nats, servers: "nats://127.0.0.1:4222", subject: cwb.probe, mode: publish}
      - {kind: tcp, address: "127.0.0.1:8080"}
      - {kind: prometheus, url: "http://127.0.0.1:9090", query: "up{job='api'}", min: 1}
      - {kind: command, command: [etcdctl, put, k, v], host: 127.0.0.1}
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chaos_workbench.host.address import split_host_port
from chaos_workbench.host.names import EnvName, LabelOrEmpty, OsText
from chaos_workbench.host.units import Milliseconds, PerSecond

__all__ = [
    "CommandProbeSpec",
    "NatsProbeSpec",
    "PostgresProbeSpec",
    "ProbeSpec",
    "PrometheusProbeSpec",
    "TcpProbeSpec",
    "ValkeyProbeSpec",
]


class _ProbeBase(BaseModel, ABC):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: LabelOrEmpty = ""
    rate_per_s: PerSecond = Field(default=20.0, gt=0, le=100_000)
    arrival: Literal["constant", "poisson"] = "constant"
    timeout_ms: Milliseconds = 1000.0
    max_in_flight: int = Field(default=64, gt=0, le=10_000)

    @abstractmethod
    def target(self) -> tuple[str, str]:
        """(field, host) of what this probe talks to, for the suite's blast-radius check."""


class PostgresProbeSpec(_ProbeBase):
    """A query (default ``SELECT 1``) through an asyncpg pool."""

    kind: Literal["postgres"]
    dsn: str = Field(pattern=r"^postgres(ql)?://")
    query: str = "SELECT 1"

    def target(self) -> tuple[str, str]:
        return "dsn", urlsplit(self.dsn).hostname or ""


class ValkeyProbeSpec(_ProbeBase):
    """A command (default ``PING``) through the valkey asyncio client (Redis too)."""

    kind: Literal["valkey", "redis"]
    url: str = Field(default="valkey://127.0.0.1:6379/0", pattern=r"^(valkey|redis)s?://")
    command: tuple[str, ...] = Field(default=("PING",), min_length=1)

    def target(self) -> tuple[str, str]:
        return "url", urlsplit(self.url).hostname or ""


class NatsProbeSpec(_ProbeBase):
    """Publish (and flush: a round trip to the server) or request-reply on a subject."""

    kind: Literal["nats"]
    servers: str = "nats://127.0.0.1:4222"
    subject: str = Field(default="cwb.probe", min_length=1)
    mode: Literal["publish", "request"] = "publish"
    payload: str = "ping"

    def target(self) -> tuple[str, str]:
        return "servers", urlsplit(self.servers.split(",")[0].strip()).hostname or ""


class TcpProbeSpec(_ProbeBase):
    """A plain TCP connect (and close): is the port accepting, and how fast."""

    kind: Literal["tcp"]
    address: str

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        if split_host_port(value).port == 0:
            raise ValueError(f"expected host:port with a port from 1 to 65535, got {value!r}")
        return value

    def target(self) -> tuple[str, str]:
        return "address", split_host_port(self.address).host


_MAX_SAMPLE = 1e18  # a threshold's bound: an exabyte, a billion years in seconds


class PrometheusProbeSpec(_ProbeBase):
    """A PromQL instant query (``GET /api/v1/query``) judged against a threshold.

    A probe succeeds when the query answers and every sample of the result lies within
    ``[min, max]`` (inclusive; give one or both). A result with no sample, or a NaN sample,
    is judged by ``on_empty``. Errors, timeouts and range-vector results are failures.
    """

    kind: Literal["prometheus"]
    url: str = Field(pattern=r"^https?://[^/?#]+")
    query: str = Field(min_length=1, max_length=10_000)
    min: float | None = Field(default=None, ge=-_MAX_SAMPLE, le=_MAX_SAMPLE)
    max: float | None = Field(default=None, ge=-_MAX_SAMPLE, le=_MAX_SAMPLE)
    on_empty: Literal["fail", "pass"] = "fail"
    headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_threshold(self) -> PrometheusProbeSpec:
        if self.min is None and self.max is None:
            raise ValueError("give a threshold: 'min', 'max' or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"'min' ({self.min:g}) is above 'max' ({self.max:g})")
        return self

    def target(self) -> tuple[str, str]:
        return "url", urlsplit(self.url).hostname or ""


class CommandProbeSpec(_ProbeBase):
    """A program run once per probe (no shell): success is exit status 0 within ``timeout_ms``.

    For systems best measured by their own client (``etcdctl``, ``kafkacat``...). The
    workbench cannot see whom a command talks to, so the suite declares it in ``host`` and
    the loopback rule is checked on that declaration. A program takes far more CPU than a
    request on an open connection, hence the smaller default ``max_in_flight``.
    """

    kind: Literal["command"]
    command: tuple[OsText, ...] = Field(min_length=1)
    host: str = Field(min_length=1, description="The host the command talks to (declared).")
    env: dict[EnvName, OsText] = Field(default_factory=dict)
    max_in_flight: int = Field(default=16, gt=0, le=1_000)

    @field_validator("command")
    @classmethod
    def _check_command(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value[0].strip():
            raise ValueError("the command's program is empty")
        return value

    def target(self) -> tuple[str, str]:
        return "host", self.host


ProbeSpec = Annotated[
    PostgresProbeSpec
    | ValkeyProbeSpec
    | NatsProbeSpec
    | TcpProbeSpec
    | PrometheusProbeSpec
    | CommandProbeSpec,
    Field(discriminator="kind"),
]
"""Any probe, told apart by ``kind``."""
