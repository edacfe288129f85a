"""One connection's HTTP/1.1 exchange, sans-IO: bytes in, ordered actions out.

Both directions of a connection share one :class:`HttpSession`, because the toxics need
what only both sides know together: which response answers which request (pipelining),
whether a response may have a body (it depends on the request's method), and where a
synthesized response may be slotted in (only after every earlier real response is
complete, so responses reach the client in request order).

For every request head the session builds a :class:`RequestPlan` and lets each active rule
edit it (in chain order): swallow the request and answer it (``http_error``), hold it back
(``http_latency``), cut its response short (``http_abort``), rewrite headers
(``http_header``). The plan then drives what happens to the request's bytes and, later, to
its response's bytes. Outstanding requests wait in a FIFO of :class:`_Exchange` entries;
a synthesized response is written when its entry reaches the front.

Unmatched messages are forwarded as the exact bytes that arrived. If either side stops
looking like HTTP/1.x, or a 101 / CONNECT tunnel starts, the session becomes a plain relay
for the rest of the connection (synthesized responses not yet sent are dropped: nothing
can be slotted into a byte stream we no longer understand).
"""

from __future__ import annotations

import http
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from chaos_workbench.proxy.http._framing import (
    Body,
    End,
    Framing,
    Head,
    Opaque,
    RequestFramer,
    RequestHead,
    ResponseFramer,
    ResponseHead,
)
from chaos_workbench.proxy.http._parsing import split_headers
from chaos_workbench.proxy.http.stats import COUNTERS

__all__ = [
    "Action",
    "Close",
    "HeaderEdits",
    "HttpRule",
    "HttpSession",
    "RequestPlan",
    "Reset",
    "Send",
    "SyntheticResponse",
    "edit_head",
]


@dataclass(frozen=True, slots=True)
class Send:
    """Write ``data`` toward the upstream (``to_upstream``) or the client, in order.

    ``not_before_ns`` (``time.monotonic_ns()`` clock) is when it may be written at the
    earliest; it never decreases along one direction, so a FIFO writer keeps order.
    """

    data: bytes
    to_upstream: bool
    not_before_ns: int = 0


@dataclass(frozen=True, slots=True)
class Reset:
    """Abort the connection (RST to the client, close toward the upstream)."""


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection gracefully once what was sent before has been written."""


Action = Send | Reset | Close


@dataclass(frozen=True, slots=True)
class HeaderEdits:
    """Header changes, applied remove → set (replace or add) → add (append another)."""

    remove: tuple[str, ...] = ()
    set: tuple[tuple[str, str], ...] = ()
    add: tuple[tuple[str, str], ...] = ()


def edit_head(raw: bytes, headers: Sequence[tuple[str, str]], edits: HeaderEdits) -> bytes:
    """A head with the same start line and ``edits`` applied to ``headers``."""
    drop = {n.lower() for n in edits.remove} | {n.lower() for n, _ in edits.set}
    out = [(n, v) for n, v in headers if n.lower() not in drop]
    out.extend(edits.set)
    out.extend(edits.add)
    start = raw.split(b"\r\n", 1)[0]
    lines = b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in out)
    return start + b"\r\n" + lines + b"\r\n"


@dataclass(frozen=True, slots=True)
class SyntheticResponse:
    """A response the proxy answers with instead of forwarding the request."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    def render(self, *, head_only: bool, close: bool) -> bytes:
        """HTTP/1.1 bytes with a Content-Length (and no body bytes when answering HEAD)."""
        try:
            reason = http.HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {self.status} {reason}"]
        lines += [f"{n}: {v}" for n, v in self.headers]
        lines.append(f"Content-Length: {len(self.body)}")
        if close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head if head_only else head + self.body


@dataclass(slots=True)
class RequestPlan:
    """What to do with one request and its response; rules edit it in chain order."""

    head: RequestHead
    now_ns: int
    forward: bool = True
    response: SyntheticResponse | None = None  # set with forward=False: our answer
    close_after_response: bool = False
    delay_ns: int = 0
    request_edits: list[HeaderEdits] = field(default_factory=list)
    response_edits: list[HeaderEdits] = field(default_factory=list)
    abort_after_bytes: int | None = None


class HttpRule(Protocol):
    """One active HTTP toxic on one connection."""

    def plan(self, plan: RequestPlan) -> None:
        """Edit ``plan`` for a request this rule matches (and count it as acted)."""


@dataclass(slots=True)
class _Exchange:
    method: str
    real: bool
    response: bytes | None
    close_after: bool
    response_edits: tuple[HeaderEdits, ...]
    abort_after_bytes: int | None


class HttpSession:
    """Frames both directions of one connection and applies ``rules`` to each request."""

    def __init__(self, rules: Sequence[HttpRule]) -> None:
        self.rules: Sequence[HttpRule] = rules
        self._requests = RequestFramer()
        self._responses = ResponseFramer(self._next_real_method)
        self._pending: deque[_Exchange] = deque()
        self._forward_request = True  # whether the current request's bytes go upstream
        self._release_ns = 0  # upstream writes may not happen before this
        self._in_response: _Exchange | None = None
        self._interim = False
        self._abort_left: int | None = None
        self._closing = False  # a Close/Reset was issued: drop everything after it
        self._client_done = False  # a request we answer ourselves ends the connection
        self.opaque = False
        self.saw_http = False  # at least one request head was framed
        self.counted = False  # relayed untouched because it is not HTTP (see stats.py)

    # -- client → upstream ---------------------------------------------------------------
    def from_client(self, data: bytes, now_ns: int) -> list[Action]:
        if self._closing or self._client_done:
            return []
        out: list[Action] = []
        for ev in self._requests.feed(data):
            if isinstance(ev, Opaque):
                out += self._go_opaque()
                self.count(len(ev.data))
                out.append(Send(ev.data, True, self._release_ns))
            elif isinstance(ev, Head):
                assert isinstance(ev.head, RequestHead)
                self.saw_http = True
                out += self._on_request(ev.head, now_ns)
            elif isinstance(ev, Body):
                if self._forward_request:
                    out.append(Send(ev.data, True, self._release_ns))
            elif isinstance(ev, End):
                self._forward_request = True
            if self._closing or self._client_done:
                break
        return out

    def _on_request(self, head: RequestHead, now_ns: int) -> list[Action]:
        plan = RequestPlan(head=head, now_ns=now_ns)
        for rule in self.rules:
            rule.plan(plan)
        self._forward_request = plan.forward
        out: list[Action] = []
        if plan.forward:
            raw = head.raw
            for edits in plan.request_edits:
                raw = edit_head(raw, split_headers(raw), edits)
            self._release_ns = max(self._release_ns, now_ns + plan.delay_ns)
            out.append(Send(raw, True, self._release_ns))
        close = not plan.forward and (plan.close_after_response or not head.keep_alive)
        if not plan.forward and head.framing is not Framing.NONE and head.expect_continue:
            # The client waits for 100 Continue before sending the body, and may never
            # send it: we cannot know where the next request starts. RFC 9110 §10.1.1 lets
            # a server answer early and close, which is what we do.
            close = True
        self._client_done = close
        answer = None
        if plan.response is not None:
            answer = plan.response.render(head_only=head.method == "HEAD", close=close)
        self._pending.append(
            _Exchange(
                method=head.method,
                real=plan.forward,
                response=answer,
                close_after=close,
                response_edits=tuple(plan.response_edits),
                abort_after_bytes=plan.abort_after_bytes,
            )
        )
        out += self._drain()
        return out

    # -- upstream → client ---------------------------------------------------------------
    def from_upstream(self, data: bytes) -> list[Action]:
        if self._closing:
            return []
        out: list[Action] = []
        for ev in self._responses.feed(data):
            if isinstance(ev, Opaque):
                out += self._go_opaque()
                self.count(len(ev.data))
                out.append(Send(ev.data, False))
            elif isinstance(ev, Head):
                assert isinstance(ev.head, ResponseHead)
                out += self._on_response_head(ev.head)
            elif isinstance(ev, Body):
                out += self._to_client(ev.data)
            elif isinstance(ev, End):
                out += self._on_response_end()
            if self._closing:
                break
        return out

    def _on_response_head(self, head: ResponseHead) -> list[Action]:
        ex = self._pending[0]  # the framer asked _next_real_method, so it exists and is real
        self._in_response = ex
        self._interim = head.interim
        if head.interim:
            return [Send(head.raw, False)]
        raw = head.raw
        for edits in ex.response_edits:
            raw = edit_head(raw, split_headers(raw), edits)
        self._abort_left = ex.abort_after_bytes
        return self._to_client(raw)

    def _on_response_end(self) -> list[Action]:
        if self._interim:
            self._interim = False
            return []
        out: list[Action] = []
        if self._abort_left is not None:
            # The response was shorter than after_bytes: it went through whole; cut now.
            self._abort_left = None
            self._closing = True
            return [Reset()]
        self._pending.popleft()
        self._in_response = None
        if self._responses.upgraded:
            # A tunnel from here on, both ways: what the client sends next is not HTTP
            # even if it looks like it.
            return out + self._go_opaque()
        return out + self._drain()

    def _to_client(self, data: bytes) -> list[Action]:
        left = self._abort_left
        if left is None:
            return [Send(data, False)]
        if len(data) < left:
            self._abort_left = left - len(data)
            return [Send(data, False)]
        self._abort_left = None
        self._closing = True
        out: list[Action] = [Send(data[:left], False)] if left else []
        return [*out, Reset()]

    # -- shared ---------------------------------------------------------------------------
    def _next_real_method(self) -> str | None:
        if self._pending and self._pending[0].real:
            return self._pending[0].method
        return None

    def _drain(self) -> list[Action]:
        """Write the synthesized responses that are now first in line."""
        out: list[Action] = []
        while self._pending and not self._pending[0].real and self._in_response is None:
            ex = self._pending.popleft()
            if ex.response is not None:
                out.append(Send(ex.response, False))
            if ex.close_after:
                self._closing = True
                out.append(Close())
                break
        return out

    def release_held(self) -> None:
        """Forget pending delays: later bytes toward the upstream may go at once."""
        self._release_ns = 0

    def count(self, nbytes: int) -> None:
        """Count ``nbytes`` relayed untouched (a no-op unless the connection is counted)."""
        if self.counted:
            COUNTERS.add(nbytes=nbytes)

    def _go_opaque(self) -> list[Action]:
        if self.opaque:
            return []
        self.opaque = True
        # A 101 or a CONNECT tunnel is HTTP working as designed: not counted.
        if not self._responses.upgraded:
            self.counted = True
            COUNTERS.add(connections=1)
        self._pending.clear()
        self._abort_left = None
        out: list[Action] = []
        for rest, up in ((self._requests.go_opaque(), True), (self._responses.go_opaque(), False)):
            if rest:
                self.count(len(rest))
                out.append(Send(rest, up, self._release_ns if up else 0))
        return out

    def eof(self, *, from_client: bool) -> list[Action]:
        """End of input from one side: pass on what a framer still holds (an incomplete
        head); a response delimited by the close that was shorter than ``http_abort``'s
        ``after_bytes`` has now ended, so reset as promised."""
        if self._closing:
            return []
        framer = self._requests if from_client else self._responses
        rest = framer.take_buffered()
        out: list[Action] = [Send(rest, from_client, self._release_ns)] if rest else []
        if not from_client and self._abort_left is not None:
            self._abort_left = None
            self._closing = True
            out.append(Reset())
        return out
