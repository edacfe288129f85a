"""``slicer``: cut each chunk into slices of ``average_size`` ± ``size_variation`` bytes,
``delay`` microseconds apart (Toxiproxy's attributes and slicing scheme).

Slices are separate writes to the socket, so with a delay they arrive as separate TCP
segments; a slice is never sent before the one ahead of it.
"""

from __future__ import annotations

import random
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


class SlicerAttributes(ToxicAttributes):
    average_size: int = Field(default=0, ge=0, description="Average slice size in bytes.")
    size_variation: int = Field(default=0, ge=0, description="± bytes around the average.")
    delay: int = Field(default=0, ge=0, description="Microseconds between slices.")


@register
class SlicerToxic(Toxic[SlicerAttributes]):
    type_name = "slicer"
    attributes_model = SlicerAttributes

    def pipe(self, ctx: PipeContext) -> Pipe:
        return SlicerPipe(ctx, self.attributes)


def slice_offsets(size: int, average: int, variation: int, rng: random.Random) -> list[int]:
    """Cut points [0, ..., size]: split in about half until pieces are ≤ average + variation.

    Iterative (an explicit stack) so a 256 KiB chunk cut into 1-byte slices cannot recurse
    deeply; each split shrinks the piece, so the loop ends.
    """
    if average <= 0:
        return [0, size]
    cuts = [0]
    stack = [(0, size)]
    while stack:
        start, end = stack.pop()
        if (end - start) - average <= variation or end - start < 2:
            cuts.append(end)
            continue
        wobble = rng.randint(-variation, variation) if variation else 0
        mid = min(max(start + (end - start) // 2 + wobble, start + 1), end - 1)
        stack.append((mid, end))
        stack.append((start, mid))
    return cuts


class SlicerPipe(Pipe):
    def __init__(self, ctx: PipeContext, attrs: SlicerAttributes) -> None:
        super().__init__(ctx)
        self.attrs = attrs
        self.queue: deque[bytes | None] = deque()  # None = EOF
        self.timer: TimerHandle | None = None
        self.next_ns = 0

    def feed(self, data: bytes) -> None:
        attrs = self.attrs
        cuts = slice_offsets(len(data), attrs.average_size, attrs.size_variation, self.ctx.rng)
        self.ctx.record_action()
        if attrs.delay == 0 and not self.queue:
            for i in range(1, len(cuts)):
                self.out.feed(data[cuts[i - 1] : cuts[i]])
            return
        for i in range(1, len(cuts)):
            self.queue.append(data[cuts[i - 1] : cuts[i]])
        self.held_bytes += len(data)
        if self.timer is None:
            self.next_ns = max(self.next_ns, self.ctx.now_ns())
            self._release()

    def feed_eof(self) -> None:
        if not self.queue:
            self.out.feed_eof()
        else:
            self.queue.append(None)

    def _release(self) -> None:
        self.timer = None
        now = self.ctx.now_ns()
        step = self.attrs.delay * 1000
        while self.queue and self.next_ns <= now:
            piece = self.queue.popleft()
            self.pass_held(piece)
            if piece is not None:
                self.next_ns += step
        if self.queue and self.timer is None:
            self.timer = self.ctx.call_at(self.next_ns, self._release)

    def flush(self) -> None:
        while self.queue:
            self.pass_held(self.queue.popleft())

    def dispose(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()
        self.held_bytes = 0
