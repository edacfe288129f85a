"""``http_abort``: reset the connection after ``after_bytes`` bytes of a matched response.

Bytes are counted on the wire from the first byte of the final response's status line
(interim 1xx responses pass untouched and are not counted). ``after_bytes`` 0 resets as
soon as the response begins, so the client sees no byte of it. If the response is shorter
than ``after_bytes``, it is delivered whole and the connection is reset right after it.
The reset is a TCP RST to the client (and the upstream connection is dropped).
"""

from __future__ import annotations

from pydantic import Field

from chaos_workbench.proxy.http._match import MessageMatch
from chaos_workbench.proxy.http._session import RequestPlan
from chaos_workbench.proxy.http._toxic import HttpToxic
from chaos_workbench.proxy.toxics.base import PipeContext, register

__all__ = ["HttpAbortAttributes", "HttpAbortToxic"]


class HttpAbortAttributes(MessageMatch):
    """Attributes of ``http_abort``."""

    after_bytes: int = Field(default=0, ge=0, description="Response bytes let through first.")


@register
class HttpAbortToxic(HttpToxic[HttpAbortAttributes]):
    type_name = "http_abort"
    attributes_model = HttpAbortAttributes

    def act(self, plan: RequestPlan, ctx: PipeContext) -> bool:
        if not plan.forward:
            return False  # answered by the proxy: there is no upstream response to cut
        n = self.attributes.after_bytes
        current = plan.abort_after_bytes
        plan.abort_after_bytes = n if current is None else min(current, n)
        return True
