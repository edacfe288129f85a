"""The session never raises and never loses a byte, whatever arrives and however it is split.

An exception inside a pipe would kill the connection it sits on, so the framer and session
are fed seeded-random mixes of valid messages, truncated ones and garbage, split at random
points; with no rule acting, what comes out in each direction must be exactly what went in.
"""

from __future__ import annotations

import random

from chaos_workbench.proxy.http._session import HttpSession, RequestPlan, Send

REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
    b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
    b"HEAD /h HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",  # refused
    b"GET /\xff\xfe HTTP/1.1\r\n\r\n",
    b"BREW /pot HTCPCP/1.0\r\n\r\n",
    b"\x00\x01\x02garbage\r\n\r\n",
    b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # bad chunk size
]
RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;x=y\r\na\r\n0\r\nT: 1\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",  # refused
    b"HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x00",
    b"\x16\x03\x01garbage",
]


class _Noop:
    def plan(self, plan: RequestPlan) -> None:
        plan.request_edits.clear()


def _split(rng: random.Random, data: bytes) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 6))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def test_random_streams_never_raise_and_lose_nothing() -> None:
    rng = random.Random(20261126)
    for _ in range(1500):
        client = b"".join(rng.choice(REQUESTS) for _ in range(rng.randint(1, 5)))
        server = b"".join(rng.choice(RESPONSES) for _ in range(rng.randint(0, 5)))
        s = HttpSession([_Noop()])
        up, down = bytearray(), bytearray()
        pieces = [(True, p) for p in _split(rng, client)]
        server_pieces = [(False, p) for p in _split(rng, server)] if server else []
        # Interleave the two directions randomly, each in its own order.
        merged = []
        while pieces or server_pieces:
            src = (
                pieces if (pieces and (not server_pieces or rng.random() < 0.5)) else server_pieces
            )
            merged.append(src.pop(0))
        for from_client, piece in merged:
            actions = s.from_client(piece, 0) if from_client else s.from_upstream(piece)
            for a in actions:
                assert isinstance(a, Send)
                (up if a.to_upstream else down).extend(a.data)
        for a in s.eof(from_client=True) + s.eof(from_client=False):
            assert isinstance(a, Send)
            (up if a.to_upstream else down).extend(a.data)
        assert bytes(up) == client
        assert bytes(down) == server


class _Chaos:
    """Acts at random: answers, delays, edits, aborts."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def plan(self, plan: RequestPlan) -> None:
        from chaos_workbench.proxy.http._session import HeaderEdits, SyntheticResponse

        roll = self.rng.random()
        if roll < 0.25:
            plan.forward = False
            plan.response = SyntheticResponse(503, b"x")
        elif roll < 0.5:
            plan.delay_ns = 1000
        elif roll < 0.75:
            plan.response_edits.append(HeaderEdits(add=(("X", "1"),)))
            plan.request_edits.append(HeaderEdits(remove=("host",)))
        else:
            plan.abort_after_bytes = self.rng.randint(0, 40)


def test_acting_rules_never_raise() -> None:
    rng = random.Random(7)
    for _ in range(1500):
        client = b"".join(rng.choice(REQUESTS) for _ in range(rng.randint(1, 5)))
        server = b"".join(rng.choice(RESPONSES) for _ in range(rng.randint(0, 5)))
        s = HttpSession([_Chaos(rng)])
        for piece in _split(rng, client):
            s.from_client(piece, 0)
        for piece in _split(rng, server) if server else []:
            s.from_upstream(piece)
        s.eof(from_client=True)
        s.eof(from_client=False)
