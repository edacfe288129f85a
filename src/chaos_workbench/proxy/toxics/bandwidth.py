"""``bandwidth``: pass bytes at most ``rate`` KB/s (1 KB = 1000 bytes, as Toxiproxy).

Bytes leave in slices of at most 10 ms worth of the rate, each when the link would have
finished transmitting it, so the rate holds over any window longer than ~10 ms. ``rate`` 0
means unlimited (Toxiproxy's).
"""

from __future__ import annotations

from collections import deque

from pydantic import Field

from chaos_workbench.proxy.toxics.base import (
    Pipe,
    PipeContext,
    TimerHandle,
    Toxic,
    ToxicAttributes,
    register,
)

_SLICE_S = 0.010  # one slice is 10 ms of transmission
_MAX_SLICE_BYTES = 256 * 1024


class BandwidthAttributes(ToxicAttributes):
    rate: int = Field(default=0, ge=0, description="KB/s (1000 bytes/s); 0 = unlimited.")


@register
class BandwidthToxic(Toxic[BandwidthAttributes]):
    type_name = "bandwidth"
    attributes_model = BandwidthAttributes

    def pipe(self, ctx: PipeContext) -> Pipe:
        return BandwidthPipe(ctx, self.attributes.rate * 1000)


class BandwidthPipe(Pipe):
    def __init__(self, ctx: PipeContext, rate_bytes_per_s: int) -> None:
        super().__init__(ctx)
        self.rate = rate_bytes_per_s
        self.slice_bytes = max(1, min(_MAX_SLICE_BYTES, int(rate_bytes_per_s * _SLICE_S)))
        self.queue: deque[bytes] = deque()
        self.eof = False
        self.timer: TimerHandle | None = None
        self.free_at_ns = 0  # when the simulated link finishes what it was given

    def feed(self, data: bytes) -> None:
        if self.rate <= 0:
            self.out.feed(data)
            return
        self.queue.append(data)
        self.held_bytes += len(data)
        if self.timer is None:
            self.free_at_ns = max(self.free_at_ns, self.ctx.now_ns())
            self._schedule()

    def feed_eof(self) -> None:
        if not self.queue:
            self.out.feed_eof()
        else:
            self.eof = True

    def _next_slice(self) -> bytes:
        head = self.queue[0]
        if len(head) <= self.slice_bytes:
            return self.queue.popleft()
        self.queue[0] = head[self.slice_bytes :]
        return head[: self.slice_bytes]

    def _schedule(self) -> None:
        size = min(len(self.queue[0]), self.slice_bytes)
        due = self.free_at_ns + size * 1_000_000_000 // self.rate
        self.timer = self.ctx.call_at(due, self._release)

    def _release(self) -> None:
        self.timer = None
        now = self.ctx.now_ns()
        # Bounded by the bytes queued: each pass sends one slice.
        while self.queue:
            size = min(len(self.queue[0]), self.slice_bytes)
            due = self.free_at_ns + size * 1_000_000_000 // self.rate
            if due > now:
                break
            piece = self._next_slice()
            self.free_at_ns = due
            self.held_bytes -= len(piece)
            self.ctx.record_action()
            self.out.feed(piece)
        if self.queue:
            if self.timer is None:
                self._schedule()
        elif self.eof:
            self.eof = False
            self.out.feed_eof()

    def flush(self) -> None:
        while self.queue:
            piece = self.queue.popleft()
            self.held_bytes -= len(piece)
            self.out.feed(piece)
        if self.eof:
            self.eof = False
            self.out.feed_eof()

    def dispose(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()
        self.held_bytes = 0
