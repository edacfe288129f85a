"""``slow_close``: delay the close (FIN) of the stream by ``delay`` ms (Toxiproxy's)."""

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


class SlowCloseAttributes(ToxicAttributes):
    delay: int = Field(default=0, ge=0, description="Delay of the close in milliseconds.")


@register
class SlowCloseToxic(Toxic[SlowCloseAttributes]):
    type_name = "slow_close"
    attributes_model = SlowCloseAttributes

    def pipe(self, ctx: PipeContext) -> Pipe:
        return SlowClosePipe(ctx, self.attributes.delay)


class SlowClosePipe(Pipe):
    def __init__(self, ctx: PipeContext, delay_ms: int) -> None:
        super().__init__(ctx)
        self.delay_ms = delay_ms
        self.timer: TimerHandle | None = None

    def feed_eof(self) -> None:
        self.ctx.record_action()
        self.timer = self.ctx.call_at(self.ctx.now_ns() + self.delay_ms * 1_000_000, self._close)

    def _close(self) -> None:
        self.timer = None
        self.out.feed_eof()

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self._close()

    def dispose(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
