"""``reset_peer``: reset the connection (TCP RST) after ``timeout`` ms (Toxiproxy's).

Better than Toxiproxy: the countdown starts when the toxic takes effect on a connection —
when it is added, for connections already open, or when a new connection opens — not at
the next byte, so idle open connections are reset too. Bytes arriving meanwhile are
dropped (as in Toxiproxy).
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


class ResetPeerAttributes(ToxicAttributes):
    timeout: int = Field(default=0, ge=0, description="Milliseconds until the reset; 0 = now.")


@register
class ResetPeerToxic(Toxic[ResetPeerAttributes]):
    type_name = "reset_peer"
    go_name = "ResetToxic"  # Toxiproxy's struct for it
    attributes_model = ResetPeerAttributes

    def pipe(self, ctx: PipeContext) -> Pipe:
        return ResetPeerPipe(ctx, self.attributes.timeout)


class ResetPeerPipe(TimedPipe):
    def __init__(self, ctx: PipeContext, timeout_ms: int) -> None:
        super().__init__(ctx)
        self.timeout_ms = timeout_ms

    def start(self) -> None:
        self.arm_after_ms(self.timeout_ms, self._reset)

    def _reset(self) -> None:
        self.ctx.record_action()
        self.ctx.connection.reset()

    def feed(self, data: bytes) -> None:
        pass  # dropped: the connection is about to be reset

    def feed_eof(self) -> None:
        pass
