"""``limit_data``: close the connection once ``bytes`` bytes have passed (Toxiproxy's).

The count is per connection and survives updates of the toxic (Toxiproxy's state). Bytes
up to the limit are delivered, then the connection is closed (FIN both ways). As in
Toxiproxy, reaching the limit *ends this toxic's stream*: the toxics after it in the chain
still deliver what they hold (a latency toxic after it delays the last bytes, it does not
lose them), and the connection closes when that end has come out of the chain.
"""

from __future__ import annotations

from pydantic import Field

from chaos_workbench.proxy.toxics.base import Pipe, PipeContext, Toxic, ToxicAttributes, register


class LimitDataAttributes(ToxicAttributes):
    bytes: int = Field(default=0, ge=0, description="Bytes allowed through before closing.")


class LimitDataState:
    def __init__(self) -> None:
        self.transmitted = 0
        self.ended = False  # the limit was reached and the stream's end sent on


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
            self._end()

    def feed(self, data: bytes) -> None:
        if self.state.ended:
            return  # past the end of the stream: the connection is closing
        remaining = self.limit - self.state.transmitted
        if remaining > 0:
            part = data if len(data) <= remaining else data[:remaining]
            self.state.transmitted += len(part)
            self.out.feed(part)
        if self.state.transmitted >= self.limit:
            self._end()

    def feed_eof(self) -> None:
        if not self.state.ended:
            self.out.feed_eof()

    def _end(self) -> None:
        if self.state.ended:
            return  # an update re-created the pipe after the end was sent
        self.state.ended = True
        self.ctx.record_action()
        self.ctx.connection.close_after_eof(self.ctx.stream)
        self.out.feed_eof()
