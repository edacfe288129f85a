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
    TimerHandle,
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


class LimitTimePipe(Pipe):
    def __init__(self, ctx: PipeContext, time_ms: int) -> None:
        super().__init__(ctx)
        self.time_ms = time_ms
        self.state: LimitTimeState = ctx.state
        self.timer: TimerHandle | None = None

    def start(self) -> None:
        if self.state.started_ns is None:
            self.state.started_ns = self.ctx.now_ns()
        due = self.state.started_ns + self.time_ms * 1_000_000
        self.timer = self.ctx.call_at(due, self._expire)

    def _expire(self) -> None:
        self.timer = None
        self.ctx.record_action()
        self.ctx.connection.close()

    def dispose(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
