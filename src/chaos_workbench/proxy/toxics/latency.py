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

from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from chaos_workbench.proxy.toxics.base import (
    Pipe,
    PipeContext,
    QueuedPipe,
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


class LatencyPipe(QueuedPipe):
    def __init__(self, ctx: PipeContext, attrs: LatencyAttributes) -> None:
        super().__init__(ctx)
        self.attrs = attrs

    def _delay_ns(self) -> int:
        attrs, rng = self.attrs, self.ctx.rng
        if attrs.jitter == 0:
            return attrs.latency * 1_000_000
        gauss = rng.gauss(0.0, 1.0) if attrs.distribution in ("normal", "pareto_normal") else 0.0
        pareto = rng.paretovariate(_PARETO_ALPHA) if "pareto" in attrs.distribution else 1.0
        return int(sample_delay_ms(attrs, rng.random(), gauss, pareto) * 1_000_000)

    def feed(self, data: bytes) -> None:
        now = self.ctx.now_ns()
        due = now + self._delay_ns()
        if not self.queue and due <= now:
            self.out.feed(data)
            return
        self.ctx.record_action()
        self.hold(due, data)
