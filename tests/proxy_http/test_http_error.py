"""http_error through the real proxy: answered requests never reach the upstream, order holds."""

from __future__ import annotations

from typing import Any


async def test_error_answers_matched_request_and_upstream_never_sees_it(
    proxied: Any, upstream: Any, client: Any
) -> None:
    proxied.add("http_error", path="/fail*", status=418, body="no tea", headers={"X-Why": "t"})
    await client.send(b"GET /fail/1 HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body, _ = await client.response()
    assert (status, body) == (418, b"no tea")
    assert headers["x-why"] == "t"
    assert headers["content-type"].startswith("text/plain")
    # keep-alive: the next request on the same connection is forwarded normally
    await client.send(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, body, _ = await client.response()
    assert (status, body) == (200, b"GET /ok 0")
    assert [r.path for r in upstream.requests] == ["/ok"]
    assert proxied.count("http_error_downstream") == 1
