"""``slow_close``: delay the close (FIN) of the stream by ``delay`` ms (Toxiproxy's)."""

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


class SlowCloseAttributes(ToxicAttributes):
    delay: int = Field(default=0, ge=0, description="Delay of the close in milliseconds.")


@register
class SlowCloseToxic(Toxic[SlowCloseAttributes]):
    type_name = "slow_close"
    attributes_model = SlowCloseAttributes

    def pipe(self, ctx: PipeContext) -> Pipe:
        return SlowClosePipe(ctx, self.attributes.delay)


class SlowClosePipe(TimedPipe):
    def __init__(self, ctx: PipeContext, delay_ms: int) -> None:
        super().__init__(ctx)
        self.delay_ms = delay_ms

    def feed_eof(self) -> None:
        self.ctx.record_action()
        self.arm_after_ms(self.delay_ms, self._close)

    def _close(self) -> None:
        self.out.feed_eof()  # looked up now: the chain may have changed meanwhile

    def flush(self) -> None:
        if self.cancel_timer():
            self._close()
