"""``limit_time`` (ours, Toxiproxy-fork naming): the connection works, then is closed
``time`` ms after the toxic took effect on it — the "cable unplug".

The start time is per connection and survives updates of the toxic, so changing ``time``
moves the deadline rather than restarting it.
"""

from __future__ import annotations

from pydantic import Field

from chaos_workbench.proxy.toxics.base import (
    Pipe,
    PipeContext,
    TimedPipe,
    Toxic,
    ToxicAttributes,
    register,
)


class LimitTimeAttributes(ToxicAttributes):
    time: int = Field(default=0, ge=0, description="Milliseconds the connection may live.")


class LimitTimeState:
    def __init__(self) -> None:
        self.started_ns: int | None = None


@register
class LimitTimeToxic(Toxic[LimitTimeAttributes]):
    type_name = "limit_time"
    attributes_model = LimitTimeAttributes

    def new_state(self) -> LimitTimeState:
        return LimitTimeState()

    def pipe(self, ctx: PipeContext) -> Pipe:
        return LimitTimePipe(ctx, self.attributes.time)


class LimitTimePipe(TimedPipe):
    def __init__(self, ctx: PipeContext, time_ms: int) -> None:
        super().__init__(ctx)
        self.time_ms = time_ms
        self.state: LimitTimeState = ctx.state

    def start(self) -> None:
        if self.state.started_ns is None:
            self.state.started_ns = self.ctx.now_ns()
        self.arm_at(self.state.started_ns + self.time_ms * 1_000_000, self._expire)

    def _expire(self) -> None:
        self.ctx.record_action()
        self.ctx.connection.close()
