"""``limit_data``: close the connection once ``bytes`` bytes have passed (Toxiproxy's).

The count is per connection and survives updates of the toxic (Toxiproxy's state). Bytes
up to the limit are delivered, then the connection is closed (FIN both ways).
"""

from __future__ import annotations

from pydantic import Field

from chaos_workbench.proxy.toxics.base import Pipe, PipeContext, Toxic, ToxicAttributes, register


class LimitDataAttributes(ToxicAttributes):
    bytes: int = Field(default=0, ge=0, description="Bytes allowed through before closing.")


class LimitDataState:
    def __init__(self) -> None:
        self.transmitted = 0


@register
class LimitDataToxic(Toxic[LimitDataAttributes]):
    type_name = "limit_data"
    attributes_model = LimitDataAttributes

    def new_state(self) -> LimitDataState:
        return LimitDataState()

    def pipe(self, ctx: PipeContext) -> Pipe:
        return LimitDataPipe(ctx, self.attributes.bytes)


class LimitDataPipe(Pipe):
    def __init__(self, ctx: PipeContext, limit: int) -> None:
        super().__init__(ctx)
        self.limit = limit
        self.state: LimitDataState = ctx.state

    def start(self) -> None:
        if self.state.transmitted >= self.limit:
            self._close()

    def feed(self, data: bytes) -> None:
        remaining = self.limit - self.state.transmitted
        if remaining > 0:
            part = data if len(data) <= remaining else data[:remaining]
            self.state.transmitted += len(part)
            self.out.feed(part)
        if self.state.transmitted >= self.limit:
            self._close()

    def _close(self) -> None:
        self.ctx.record_action()
        self.ctx.connection.close()
