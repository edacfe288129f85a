"""``noop``: passes every byte through unchanged (Toxiproxy's ``noop``)."""

from __future__ import annotations

from chaos_workbench.proxy.toxics.base import Pipe, PipeContext, Toxic, ToxicAttributes, register


class NoopAttributes(ToxicAttributes):
    """No attributes."""


@register
class NoopToxic(Toxic[NoopAttributes]):
    type_name = "noop"
    attributes_model = NoopAttributes

    def pipe(self, ctx: PipeContext) -> Pipe:
        return Pipe(ctx)
