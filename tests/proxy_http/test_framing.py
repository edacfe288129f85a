"""The sans-IO layer on its own: message boundaries, ordering and plans, byte for byte.

These run the real framer and session (no sockets needed to prove where a message ends);
the socket-level behaviour is in the other test files.
"""

from __future__ import annotations

import pytest

from chaos_workbench.proxy.http._framing import (
    Body,
    End,
    Head,
    Opaque,
    RequestFramer,
    ResponseFramer,
)
from chaos_workbench.proxy.http._session import (
    Close,
    HeaderEdits,
    HttpSession,
    RequestPlan,
    Reset,
    Send,
    SyntheticResponse,
)

CHUNKED_REQ = (
    b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
)
PIPELINE = (
    b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    + CHUNKED_REQ
    + b"PUT /c HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
    + b"HEAD /d HTTP/1.1\r\nHost: x\r\n\r\n"
)


def _messages(events: list[object]) -> list[bytes]:
    """Re-join events into whole messages' raw bytes."""
    out: list[bytes] = []
    cur = b""
    for ev in events:
        if isinstance(ev, Head):
            cur = ev.head.raw
        elif isinstance(ev, Body):
            cur += ev.data
        elif isinstance(ev, End):
            out.append(cur)
    return out


@pytest.mark.parametrize("step", [1, 2, 3, 7, 64, len(PIPELINE)])
def test_request_boundaries_survive_any_split(step: int) -> None:
    framer = RequestFramer()
    events: list[object] = []
    for i in range(0, len(PIPELINE), step):
        events += list(framer.feed(PIPELINE[i : i + step]))
    msgs = _messages(events)
    assert b"".join(msgs) == PIPELINE  # byte-exact, nothing lost or added
    assert [m.split(b" ", 2)[1] for m in msgs] == [b"/a", b"/up", b"/c", b"/d"]
    assert msgs[1] == CHUNKED_REQ
    assert framer.idle


def test_responses_follow_request_methods() -> None:
    methods = iter(["HEAD", "GET", "GET"])
    framer = ResponseFramer(lambda: next(methods))
    stream = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"  # HEAD: no body despite the length
        b"HTTP/1.1 204 No Content\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    msgs = _messages(list(framer.feed(stream)))
    assert b"".join(msgs) == stream
    assert len(msgs) == 3


def test_non_http_goes_opaque_at_once_and_keeps_every_byte() -> None:
    framer = RequestFramer()
    data = b"\x16\x03\x01\x02\x00binary tls hello"
    assert list(framer.feed(data)) == [Opaque(data)]
    assert list(framer.feed(b"more")) == [Opaque(b"more")]


def test_a_line_protocol_is_not_held_waiting_for_a_blank_line() -> None:
    framer = RequestFramer()
    assert list(framer.feed(b"PING ")) == []  # could still be a request line
    assert list(framer.feed(b"x\r\n")) == [Opaque(b"PING x\r\n")]


def test_interim_and_upgrade() -> None:
    framer = ResponseFramer(lambda: "GET")
    evs = list(framer.feed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: ws\r\n\r\n\x81\x05hello"))
    assert isinstance(evs[0], Head)
    assert isinstance(evs[1], End)
    assert evs[2] == Opaque(b"\x81\x05hello")
    assert framer.upgraded


class _Rule:
    def __init__(self, fn: object) -> None:
        self.fn = fn

    def plan(self, plan: RequestPlan) -> None:
        assert callable(self.fn)
        self.fn(plan)


def _fail_b(plan: RequestPlan) -> None:
    if plan.head.path == "/b":
        plan.forward = False
        plan.response = SyntheticResponse(503, b"no")


def _sent(actions: list[object], up: bool) -> bytes:
    return b"".join(a.data for a in actions if isinstance(a, Send) and a.to_upstream == up)


def test_synthesized_response_waits_for_earlier_real_ones() -> None:
    s = HttpSession([_Rule(_fail_b)])
    acts = s.from_client(
        b"GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nzzGET /c HTTP/1.1\r\n\r\n",
        0,
    )
    assert _sent(acts, up=True) == b"GET /a HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n"
    assert _sent(acts, up=False) == b""  # /a's response has not come yet
    acts = s.from_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n")
    assert _sent(acts, up=False) == b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n"
    acts = s.from_upstream(b"A")  # /a complete: /b's answer goes right after it
    assert _sent(acts, up=False) == (
        b"A" + b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n\r\nno"
    )
    acts = s.from_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nC")
    assert _sent(acts, up=False) == b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nC"


def test_answered_expect_continue_request_closes() -> None:
    s = HttpSession([_Rule(_fail_b)])
    acts = s.from_client(
        b"POST /b HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n", 0
    )
    assert b"Connection: close" in _sent(acts, up=False)
    assert isinstance(acts[-1], Close)
    assert s.from_client(b"hello", 0) == []  # whatever follows is not forwarded


def test_abort_cuts_after_n_bytes_of_the_final_response() -> None:
    def abort(plan: RequestPlan) -> None:
        plan.abort_after_bytes = 20

    s = HttpSession([_Rule(abort)])
    s.from_client(b"GET / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", 0)
    acts = s.from_upstream(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert _sent(acts, up=False) == b"HTTP/1.1 100 Continue\r\n\r\n"  # interim: not counted
    acts = s.from_upstream(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 100)
    assert _sent(acts, up=False) == b"HTTP/1.1 200 OK\r\nCon"
    assert isinstance(acts[-1], Reset)


def test_header_edits_and_latency_plan() -> None:
    def edit(plan: RequestPlan) -> None:
        plan.request_edits.append(HeaderEdits(remove=("x-drop",), set=(("Host", "new"),)))
        plan.delay_ns = 5_000_000

    s = HttpSession([_Rule(edit)])
    acts = s.from_client(b"GET / HTTP/1.1\r\nHost: old\r\nX-Drop: 1\r\nA: b\r\n\r\n", 1_000)
    (send,) = acts
    assert isinstance(send, Send)
    assert send.data == b"GET / HTTP/1.1\r\nA: b\r\nHost: new\r\n\r\n"
    assert send.not_before_ns == 5_001_000


def test_http2_preface_is_not_http1() -> None:
    framer = RequestFramer()
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04"
    assert list(framer.feed(preface)) == [Opaque(preface)]


def test_abort_of_a_response_delimited_by_close() -> None:
    def abort(plan: RequestPlan) -> None:
        plan.abort_after_bytes = 1000

    s = HttpSession([_Rule(abort)])
    s.from_client(b"GET / HTTP/1.1\r\n\r\n", 0)
    acts = s.from_upstream(b"HTTP/1.0 200 OK\r\n\r\nshort body")
    assert _sent(acts, up=False) == b"HTTP/1.0 200 OK\r\n\r\nshort body"
    assert isinstance(s.eof(from_client=False)[-1], Reset)


def test_pipelined_responses_in_one_chunk_are_framed_by_their_own_request() -> None:
    # HEAD's response has a Content-Length but no body; if it were framed by the GET before
    # it, "HTTP/1.1 200..." of the next response would be swallowed as its body.
    def edit(plan: RequestPlan) -> None:
        plan.response_edits.append(HeaderEdits(add=(("X", plan.head.method),)))

    s = HttpSession([_Rule(edit)])
    s.from_client(b"GET /a HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n", 0)
    r = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
    out = _sent(s.from_upstream(r + b"ok" + r + r + b"ok"), up=False)
    assert out == (
        r[:-2] + b"X: GET\r\n\r\nok" + r[:-2] + b"X: HEAD\r\n\r\n" + r[:-2] + b"X: GET\r\n\r\nok"
    )
