"""``http_header``: add, replace or remove headers of matched requests or their responses.

``target`` chooses the request (before it goes upstream) or the final response to it (1xx
responses and responses the proxy synthesized are left alone). Edits apply in the order
remove → replace (drop every header of that name, then add one) → add (append, even if
the name is present). Names compare case-insensitively. ``Content-Length`` and
``Transfer-Encoding`` are refused: they decide where a message ends. An edited head is
re-serialised as ``Name: value`` lines; an unmatched one is forwarded byte-exact.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_serializer, field_validator

from chaos_workbench.proxy.http._header_values import header_map, header_names
from chaos_workbench.proxy.http._match import MessageMatch
from chaos_workbench.proxy.http._session import HeaderEdits, RequestPlan
from chaos_workbench.proxy.http._toxic import HttpToxic
from chaos_workbench.proxy.toxics.base import PipeContext, register

__all__ = ["HttpHeaderAttributes", "HttpHeaderToxic"]


class HttpHeaderAttributes(MessageMatch):
    """Attributes of ``http_header``."""

    target: Literal["request", "response"] = "response"
    add: tuple[tuple[str, str], ...] = Field(default=(), description="Headers to append.")
    replace: tuple[tuple[str, str], ...] = Field(default=(), description="Headers to set.")
    remove: tuple[str, ...] = Field(default=(), description="Header names to drop.")

    @field_serializer("add", "replace")
    def _as_object(self, pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
        return dict(pairs)  # shown as a JSON object, the way it is written

    @field_validator("add", "replace", mode="before")
    @classmethod
    def _pairs(cls, v: object) -> object:
        return header_map(v)

    @field_validator("remove", mode="before")
    @classmethod
    def _names(cls, v: object) -> object:
        return header_names(v)

    def edits(self) -> HeaderEdits:
        return HeaderEdits(remove=self.remove, set=self.replace, add=self.add)


@register
class HttpHeaderToxic(HttpToxic[HttpHeaderAttributes]):
    type_name = "http_header"
    attributes_model = HttpHeaderAttributes

    def act(self, plan: RequestPlan, ctx: PipeContext) -> bool:
        if not plan.forward:
            return False
        if self.attributes.target == "request":
            plan.request_edits.append(self.attributes.edits())
        else:
            plan.response_edits.append(self.attributes.edits())
        return True
