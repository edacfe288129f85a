"""``http_error``: answer matched requests with a given response instead of forwarding them.

The upstream never sees an answered request (head nor body). The answer is slotted into
the response stream in request order, after every earlier real response, so pipelined and
keep-alive clients keep working. It carries ``Connection: close`` (and the proxy closes the
connection after it) only when the request asked for that (``Connection: close``,
HTTP/1.0 without keep-alive) or when the request is waiting on ``Expect: 100-continue``
with a body it may never send — then the proxy cannot tell where the next request starts.
"""

from __future__ import annotations

from pydantic import Field, field_serializer, field_validator

from chaos_workbench.proxy.http._header_values import header_map
from chaos_workbench.proxy.http._match import MessageMatch
from chaos_workbench.proxy.http._session import RequestPlan, SyntheticResponse
from chaos_workbench.proxy.http._toxic import HttpToxic
from chaos_workbench.proxy.toxics.base import PipeContext, register

__all__ = ["HttpErrorAttributes", "HttpErrorToxic"]


class HttpErrorAttributes(MessageMatch):
    """Attributes of ``http_error``."""

    status: int = Field(default=503, ge=200, le=599, description="Status code (2xx-5xx).")
    body: str = Field(default="", description="Response body, sent as UTF-8.")
    headers: tuple[tuple[str, str], ...] = Field(
        default=(), description="Extra response headers, an object of name to value."
    )
    probability: float = Field(
        default=1.0, ge=0.0, le=1.0, description="Chance that a matched request is answered."
    )

    @field_serializer("headers")
    def _as_object(self, pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
        return dict(pairs)  # shown as a JSON object, the way it is written

    @field_validator("headers", mode="before")
    @classmethod
    def _headers(cls, v: object) -> object:
        return header_map(v)

    def response(self) -> SyntheticResponse:
        headers = self.headers
        if self.body and not any(n.lower() == "content-type" for n, _ in headers):
            headers = (*headers, ("Content-Type", "text/plain; charset=utf-8"))
        return SyntheticResponse(self.status, self.body.encode(), headers)


@register
class HttpErrorToxic(HttpToxic[HttpErrorAttributes]):
    type_name = "http_error"
    attributes_model = HttpErrorAttributes

    def act(self, plan: RequestPlan, ctx: PipeContext) -> bool:
        if not plan.forward:
            return False  # an earlier toxic answers it already
        p = self.attributes.probability
        # One draw per matched request from the proxy's seeded RNG (none when p is 0 or 1,
        # so those stay deterministic whatever else draws from the RNG).
        if p < 1.0 and (p == 0.0 or ctx.rng.random() >= p):
            return False
        plan.forward = False
        plan.response = self.attributes.response()
        return True
