"""``latency``: delay every chunk by ``latency`` ms ± ``jitter`` ms (Toxiproxy's attributes).

Chunks are delayed by *timestamps*, not by sleeping one after another: each chunk is due at
its arrival time plus its own sampled delay, so a stream of chunks is shifted in time, not
serialised (Toxiproxy sleeps per chunk, which caps throughput at one chunk per delay). A
chunk is never due before the one ahead of it, so jitter cannot reorder bytes.

``distribution`` (ours) shapes the delay, all in milliseconds, clipped at 0:

* ``uniform`` (default, Toxiproxy's): latency + U(−jitter, +jitter)
* ``normal``: N(latency, σ = jitter)
* ``pareto``: latency + jitter · 2(X − 1), X ~ Pareto(α = 3, xₘ = 1): a heavy tail above
  ``latency`` whose mean extra delay is ``jitter``
* ``pareto_normal``: latency + ¾ · N(0, jitter) + ¼ · the pareto extra (netem's mix)

The JSON of a toxic with the default ``uniform`` has no ``distribution`` key, so it is
byte-for-byte Toxiproxy's ``{"latency": N, "jitter": N}``; any other value is shown.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from chaos_workbench.proxy.toxics.base import (
    Pipe,
    PipeContext,
    TimerHandle,
    Toxic,
    ToxicAttributes,
    register,
)

_PARETO_ALPHA = 3.0  # mean of Pareto(3, 1) is 1.5: 2(X − 1) has mean 1


class LatencyAttributes(ToxicAttributes):
    latency: int = Field(default=0, ge=0, description="Delay in milliseconds.")
    jitter: int = Field(default=0, ge=0, description="Spread in milliseconds.")
    distribution: Literal["uniform", "normal", "pareto", "pareto_normal"] = "uniform"

    @model_serializer(mode="wrap")
    def _toxiproxy_shape(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Toxiproxy clients and recorded answers see exactly its attributes by default.
        data: dict[str, Any] = handler(self)
        if data.get("distribution") == "uniform":
            del data["distribution"]
        return data


@register
class LatencyToxic(Toxic[LatencyAttributes]):
    type_name = "latency"
    attributes_model = LatencyAttributes

    def pipe(self, ctx: PipeContext) -> Pipe:
        return LatencyPipe(ctx, self.attributes)


def sample_delay_ms(
    attrs: LatencyAttributes, rng_random: float, gauss: float, pareto: float
) -> float:
    """One delay in ms from pre-drawn variates (U[0,1), N(0,1), Pareto(α=3))."""
    base, jitter = float(attrs.latency), float(attrs.jitter)
    if jitter == 0:
        return base
    if attrs.distribution == "uniform":
        delay = base + (rng_random * 2 - 1) * jitter
    elif attrs.distribution == "normal":
        delay = base + gauss * jitter
    elif attrs.distribution == "pareto":
        delay = base + jitter * 2 * (pareto - 1)
    else:
        delay = base + 0.75 * gauss * jitter + 0.25 * jitter * 2 * (pareto - 1)
    return max(delay, 0.0)


class LatencyPipe(Pipe):
    def __init__(self, ctx: PipeContext, attrs: LatencyAttributes) -> None:
        super().__init__(ctx)
        self.attrs = attrs
        self.queue: deque[tuple[int, bytes | None]] = deque()  # (due_ns, data); None = EOF
        self.timer: TimerHandle | None = None
        self.last_due_ns = 0

    def _delay_ns(self) -> int:
        attrs, rng = self.attrs, self.ctx.rng
        if attrs.jitter == 0:
            return attrs.latency * 1_000_000
        gauss = rng.gauss(0.0, 1.0) if attrs.distribution in ("normal", "pareto_normal") else 0.0
        pareto = rng.paretovariate(_PARETO_ALPHA) if "pareto" in attrs.distribution else 1.0
        return int(sample_delay_ms(attrs, rng.random(), gauss, pareto) * 1_000_000)

    def feed(self, data: bytes) -> None:
        now = self.ctx.now_ns()
        due = max(now + self._delay_ns(), self.last_due_ns)
        if not self.queue and due <= now:
            self.out.feed(data)
            return
        self.ctx.record_action()
        self.last_due_ns = due
        self.queue.append((due, data))
        self.held_bytes += len(data)
        if self.timer is None:
            self.timer = self.ctx.call_at(due, self._release)

    def feed_eof(self) -> None:
        if not self.queue:
            self.out.feed_eof()
        else:
            self.queue.append((self.last_due_ns, None))

    def _release(self) -> None:
        self.timer = None
        now = self.ctx.now_ns()
        queue = self.queue
        while queue and queue[0][0] <= now:
            self.pass_held(queue.popleft()[1])
        if queue and self.timer is None:
            self.timer = self.ctx.call_at(queue[0][0], self._release)

    def flush(self) -> None:
        queue = self.queue
        while queue:
            self.pass_held(queue.popleft()[1])

    def dispose(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()
        self.held_bytes = 0
