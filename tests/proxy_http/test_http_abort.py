"""http_abort: the client gets exactly N bytes of the matched response, then a reset."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.parametrize("after", [0, 1, 25, 500])
async def test_reset_after_n_bytes(proxied: Any, client: Any, after: int) -> None:
    proxied.add("http_abort", path="/size/*", after_bytes=after)
    await client.send(b"GET /size/2000 HTTP/1.1\r\nHost: x\r\n\r\n")
    data, reset = await client.read_until_closed()
    assert reset
    assert len(data) == after
    assert b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n".startswith(data[:39])
    assert proxied.count("http_abort_downstream") == 1


async def test_earlier_responses_on_the_connection_are_whole(proxied: Any, client: Any) -> None:
    proxied.add("http_abort", method="POST", after_bytes=30)
    await client.send(
        b"GET /chunked/3 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /boom HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi"
    )
    status, _, body, _raw = await client.response()
    assert (status, body) == (200, b"chunk-0\nchunk-1\nchunk-2\n")
    rest, reset = await client.read_until_closed()
    assert reset
    assert rest == b"HTTP/1.1 200 OK\r\nContent-Length"[:30]


async def test_chunked_response_cut_mid_body(proxied: Any, client: Any) -> None:
    proxied.add("http_abort", after_bytes=80)
    await client.send(b"GET /chunked/50 HTTP/1.1\r\nHost: x\r\n\r\n")
    data, reset = await client.read_until_closed()
    assert reset
    assert len(data) == 80
    assert data.startswith(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n")


async def test_short_response_is_delivered_whole_then_reset(proxied: Any, client: Any) -> None:
    proxied.add("http_abort", after_bytes=10_000)
    await client.send(b"GET /size/5 HTTP/1.1\r\nHost: x\r\n\r\n")
    data, reset = await client.read_until_closed()
    assert reset
    assert data.endswith(b"\r\n\r\nxxxxx")
