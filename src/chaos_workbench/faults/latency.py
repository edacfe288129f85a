"""``latency``: delay the data through a proxy by ``latency_ms`` ± ``jitter_ms``.

A Toxiproxy ``latency`` toxic, so it acts on connections already open as well as new ones.
``stream`` defaults to Toxiproxy's default, ``downstream`` (server → client: every response
arrives late, which is what a slow dependency looks like to the service); ``upstream`` delays
requests instead and ``both`` adds one toxic per direction (about twice the delay per round
trip).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from chaos_workbench.faults.registry import register
from chaos_workbench.faults.toxic import (
    ProxyToxicParams,
    StreamChoice,
    ToxicFault,
    ToxicPlan,
    streams,
)
from chaos_workbench.model import FaultType

__all__ = ["Latency", "LatencyParams"]


class LatencyParams(ProxyToxicParams):
    """Added delay on a proxy link."""

    type: Literal["latency"] = "latency"
    # Whole milliseconds: Toxiproxy's attributes are integers, and a real Toxiproxy
    # answers 400 to 2.5.
    latency_ms: int = Field(ge=0, le=3_600_000, description="Added delay per chunk, in ms.")
    jitter_ms: int = Field(default=0, ge=0, le=3_600_000, description="Uniform ± spread, in ms.")
    stream: StreamChoice = Field(default="downstream", description="Which direction to delay.")


@register
class Latency(ToxicFault[LatencyParams]):
    """Delay every byte through a proxy (open and new connections)."""

    kind = "latency"
    fault_type = FaultType.LATENCY
    params_model = LatencyParams

    def plan(self) -> Sequence[ToxicPlan]:
        attributes = {"latency": self.params.latency_ms, "jitter": self.params.jitter_ms}
        return tuple(
            ToxicPlan(self.toxic_name(s), "latency", s, attributes)
            for s in streams(self.params.stream)
        )

    def describe(self) -> str:
        jitter = f" ± {self.params.jitter_ms}" if self.params.jitter_ms else ""
        return f"latency {self.params.latency_ms}{jitter} ms on {self.params.proxy_text()}"
