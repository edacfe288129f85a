"""``timeout``: stop all data, and close the connection after ``timeout`` ms (0 = never).

Toxiproxy's semantics: bytes are dropped while the toxic is on. Removing the toxic closes
the connections it dropped bytes from (their stream is broken; Toxiproxy closes every
connection); connections it dropped nothing from carry on. An EOF arriving closes the
connection, as in Toxiproxy.
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


class TimeoutAttributes(ToxicAttributes):
    timeout: int = Field(default=0, ge=0, description="Milliseconds until close; 0 = never.")


@register
class TimeoutToxic(Toxic[TimeoutAttributes]):
    type_name = "timeout"
    attributes_model = TimeoutAttributes

    def pipe(self, ctx: PipeContext) -> Pipe:
        return TimeoutPipe(ctx, self.attributes.timeout)


class TimeoutPipe(TimedPipe):
    def __init__(self, ctx: PipeContext, timeout_ms: int) -> None:
        super().__init__(ctx)
        self.timeout_ms = timeout_ms
        self.dropped = False

    def start(self) -> None:
        if self.timeout_ms > 0:
            self.arm_after_ms(self.timeout_ms, self._expire)

    def _expire(self) -> None:
        self.ctx.record_action()
        self.ctx.connection.close()

    def feed(self, data: bytes) -> None:
        if not self.dropped:
            self.ctx.record_action()
        self.dropped = True

    def feed_eof(self) -> None:
        self.ctx.connection.close()

    def flush(self) -> None:
        if self.dropped:
            self.ctx.connection.close()
