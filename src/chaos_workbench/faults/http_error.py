"""``http_error``: answer a share of the HTTP requests through a proxy with an error status.

Uses the proxy's HTTP-aware ``http_error`` toxic (``proxy/http/error.py``): a matched
request is answered by the proxy with ``status`` (default 503) and never reaches the
upstream; the others pass. ``probability`` is the share of matched requests answered (drawn
per request from the proxy's seeded RNG), ``method`` and ``path`` (a glob such as
``/charge*``) narrow which requests match. Keep-alive and pipelined connections keep
working: the answer takes its place among the real responses.

Only our proxy has this toxic; against a real Toxiproxy ``apply`` fails with its
``invalid toxic type`` answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from chaos_workbench.faults.registry import register
from chaos_workbench.faults.toxic import ProxyToxicParams, ToxicFault, ToxicPlan
from chaos_workbench.host.units import Ratio
from chaos_workbench.model import FaultType

__all__ = ["HttpError", "HttpErrorParams"]


class HttpErrorParams(ProxyToxicParams):
    """Which requests to fail, and how."""

    type: Literal["http_error"] = "http_error"
    status: int = Field(default=503, ge=200, le=599, description="Status code to answer with.")
    probability: Ratio = Field(
        default=1.0, description="Share of matched requests answered with status."
    )
    body: str = Field(default="", description="Response body (UTF-8 text).")
    method: str | None = Field(default=None, description="Only this method, e.g. POST.")
    path: str | None = Field(
        default=None, pattern=r"^/", description="Only paths matching this glob, e.g. /charge*."
    )


@register
class HttpError(ToxicFault[HttpErrorParams]):
    """Answer a share of HTTP requests with an error instead of forwarding them."""

    kind = "http_error"
    fault_type = FaultType.ERROR
    params_model = HttpErrorParams

    def plan(self) -> Sequence[ToxicPlan]:
        attributes: dict[str, Any] = {
            "status": self.params.status,
            "probability": self.params.probability,
        }
        if self.params.body:
            attributes["body"] = self.params.body
        if self.params.method is not None:
            attributes["method"] = self.params.method
        if self.params.path is not None:
            attributes["path"] = self.params.path
        # An HTTP toxic acts on requests and responses whatever its stream; "upstream"
        # names it after what it matches (requests, client → server).
        return (ToxicPlan(self.toxic_name("upstream"), "http_error", "upstream", attributes),)

    def describe(self) -> str:
        share = "all" if self.params.probability >= 1 else f"{self.params.probability:.0%} of"
        what = " ".join(x for x in (self.params.method, self.params.path, "requests") if x)
        return f"HTTP {self.params.status} on {share} {what} via {self.params.proxy_text()}"
