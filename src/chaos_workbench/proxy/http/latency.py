"""``http_latency``: hold each matched request back by ``latency_ms`` ± ``jitter_ms``.

The delay is per request, not per chunk: the head and its body are written upstream no
earlier than the head's arrival plus the delay. Requests keep their order, so a request
pipelined behind a delayed one waits for it too (but is not delayed twice: its own due
time counts from its own arrival). Jitter is uniform in ±``jitter_ms`` from the proxy's
seeded RNG; a negative result is 0.
"""

from __future__ import annotations

from pydantic import Field

from chaos_workbench.proxy.http._match import MessageMatch
from chaos_workbench.proxy.http._session import RequestPlan
from chaos_workbench.proxy.http._toxic import HttpToxic
from chaos_workbench.proxy.toxics.base import PipeContext, register

__all__ = ["HttpLatencyAttributes", "HttpLatencyToxic"]


class HttpLatencyAttributes(MessageMatch):
    """Attributes of ``http_latency``."""

    latency_ms: float = Field(default=0.0, ge=0.0, le=3_600_000.0)
    jitter_ms: float = Field(default=0.0, ge=0.0, le=3_600_000.0)


@register
class HttpLatencyToxic(HttpToxic[HttpLatencyAttributes]):
    type_name = "http_latency"
    attributes_model = HttpLatencyAttributes

    def act(self, plan: RequestPlan, ctx: PipeContext) -> bool:
        if not plan.forward:
            return False
        a = self.attributes
        delay_ms = a.latency_ms
        if a.jitter_ms:
            delay_ms += ctx.rng.uniform(-a.jitter_ms, a.jitter_ms)
        plan.delay_ns += max(0, round(delay_ms * 1_000_000))
        return True
