"""``corrupt`` (ours, Toxiproxy-fork naming): flip each bit with ``probability``.

The number of flipped bits in a chunk is drawn from Binomial(8·len, p) and their positions
uniformly (numpy, seeded from the manager's RNG so a run can be replayed): O(flips), not
O(bits), so a tiny probability costs almost nothing on a large chunk.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from chaos_workbench.proxy.toxics.base import Pipe, PipeContext, Toxic, ToxicAttributes, register


class CorruptAttributes(ToxicAttributes):
    probability: float = Field(default=0.0, ge=0.0, le=1.0, description="Per-bit flip chance.")


@register
class CorruptToxic(Toxic[CorruptAttributes]):
    type_name = "corrupt"
    attributes_model = CorruptAttributes

    def pipe(self, ctx: PipeContext) -> Pipe:
        return CorruptPipe(ctx, self.attributes.probability)


class CorruptPipe(Pipe):
    def __init__(self, ctx: PipeContext, probability: float) -> None:
        super().__init__(ctx)
        self.probability = probability
        self.gen = np.random.default_rng(ctx.rng.getrandbits(64))

    def feed(self, data: bytes) -> None:
        nbits = len(data) * 8
        flips = int(self.gen.binomial(nbits, self.probability)) if self.probability else 0
        if flips == 0:
            self.out.feed(data)
            return
        self.ctx.record_action()
        buf = np.frombuffer(data, dtype=np.uint8).copy()
        positions = self.gen.integers(0, nbits, size=flips)
        # np.bitwise_xor.at applies repeated positions twice (flip back), like real bit noise.
        np.bitwise_xor.at(buf, positions // 8, (1 << (positions % 8)).astype(np.uint8))
        self.out.feed(buf.tobytes())
