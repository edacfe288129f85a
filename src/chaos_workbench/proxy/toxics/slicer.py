"""``slicer``: cut each chunk into slices of ``average_size`` ± ``size_variation`` bytes,
``delay`` microseconds apart (Toxiproxy's attributes and slicing scheme).

Slices are separate writes to the socket, so with a delay they arrive as separate TCP
segments; a slice is never sent before the one ahead of it.
"""

from __future__ import annotations

import random

from pydantic import Field

from chaos_workbench.proxy.toxics.base import (
    Pipe,
    PipeContext,
    QueuedPipe,
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
    go_int_type = "int"  # Toxiproxy's SlicerToxic fields are Go ints
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


class SlicerPipe(QueuedPipe):
    def __init__(self, ctx: PipeContext, attrs: SlicerAttributes) -> None:
        super().__init__(ctx)
        self.attrs = attrs
        self.spacing_ns = attrs.delay * 1000

    def feed(self, data: bytes) -> None:
        attrs = self.attrs
        cuts = slice_offsets(len(data), attrs.average_size, attrs.size_variation, self.ctx.rng)
        self.ctx.record_action()
        if attrs.delay == 0 and not self.queue:
            for i in range(1, len(cuts)):
                self.out.feed(data[cuts[i - 1] : cuts[i]])
            return
        now = self.ctx.now_ns()
        for i in range(1, len(cuts)):
            self.hold(now, data[cuts[i - 1] : cuts[i]])
