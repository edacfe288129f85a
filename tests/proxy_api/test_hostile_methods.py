"""Unknown methods: 405 on a known path, 404 elsewhere, as Toxiproxy's gorilla/mux answers.

aiohttp's parser (llhttp) knows a fixed list of methods and answered 400 to any other
token (``BREW /proxies``); Go's server accepts any token. Only what is not a token at all
is a 400, in both."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from proxy_api_helpers import Api, Echo, assert_healthy, exchange, raw_request, read_response

METHODS = [b"BREW", b"get", b"Patch", b"FOO-BAR", b"PROPFIND", b"MKCOL", b"X", b"M" * 60]
KNOWN_PATHS = [b"/proxies", b"/version", b"/metrics", b"/reset", b"/proxies/db/toxics"]


@pytest.mark.parametrize("method", METHODS, ids=lambda m: m[:10].decode())
async def test_an_unknown_method_is_405_on_a_known_path_and_404_elsewhere(
    api: Api, echo: Echo, method: bytes
) -> None:
    await api.http.post("/proxies", json={"name": "db", "upstream": echo.address})
    for path in KNOWN_PATHS:
        response = await exchange(api.url, raw_request(method, path, b"{}"))
        assert (response.status, response.body) == (405, b""), path
    response = await exchange(api.url, raw_request(method, b"/nope"))
    assert (response.status, response.body) == (404, b"404 page not found\n")
    assert list(await assert_healthy(api)) == ["db"]


@pytest.mark.parametrize("method", [b"G\x01T", b"GE(T", b"G@T", b"\xffGET"])
async def test_a_method_that_is_not_a_token_is_400(api: Api, method: bytes) -> None:
    response = await exchange(api.url, raw_request(method, b"/proxies"))
    assert response.status == 400
    await assert_healthy(api)


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def _connect(api: Api) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = api.url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def test_unknown_methods_on_a_kept_alive_connection(api: Api) -> None:
    """After each answered request the next one is screened too (a keep-alive client)."""
    reader, writer = await _connect(api)
    try:
        for method, path, status in [
            (b"GET", b"/version", 200),
            (b"BREW", b"/proxies", 405),
            (b"POST", b"/proxies", 400),  # a body: the next request starts after it
            (b"get", b"/version", 405),
            (b"BREW", b"/nope", 404),
            (b"GET", b"/proxies", 200),
        ]:
            body = b'{"name": 5}' if method == b"POST" else b""
            writer.write(raw_request(method, path, body, close=False))
            assert (await read_response(reader)).status == status, (method, path)
    finally:
        writer.close()


async def test_a_method_sent_byte_by_byte_is_still_routed(api: Api) -> None:
    reader, writer = await _connect(api)
    try:
        for byte in raw_request(b"BREW", b"/proxies"):
            writer.write(bytes([byte]))
            await writer.drain()
        response = await read_response(reader)
        assert (response.status, response.body) == (405, b"")
    finally:
        writer.close()


async def test_bytes_that_only_look_like_a_request_line_are_never_rewritten(
    api: Api, echo: Echo
) -> None:
    """The screening acts only where a request must begin: a body (even one pipelined
    after another request) whose TCP segment starts with "BREW " is passed on untouched."""
    name = "BREW coffee HTTP1.1"  # what a screened request line looks like
    body = b'{"name": "%s", "upstream": "%s"}' % (name.encode(), echo.address.encode())
    cut = body.index(b"BREW")
    reader, writer = await _connect(api)
    try:
        # A body split just before the look-alike, sent once the server has read the head.
        writer.write(raw_request(b"POST", b"/proxies", body, close=False)[: -len(body) + cut])
        await until(lambda: api.server.guard.heads_read == 1)
        writer.write(body[cut:])
        assert (await read_response(reader)).status == 201
        # Pipelined: a whole request, then the head and half the body of a second one.
        first = raw_request(b"GET", b"/version", close=False)
        second = raw_request(b"POST", b"/populate", b"[" + body + b"]", close=False)
        split_at = len(second) - len(body) - 1 + cut
        writer.write(first + second[:split_at])
        assert (await read_response(reader)).status == 200
        await until(lambda: api.server.guard.heads_read == 3)
        writer.write(second[split_at:])
        response = await read_response(reader)
        assert response.status == 201, response.body
    finally:
        writer.close()
    assert list(await assert_healthy(api)) == [name]


async def test_pipelined_requests_are_all_answered(api: Api) -> None:
    reader, writer = await _connect(api)
    try:
        requests = [raw_request(b"GET", b"/version", close=False) for _ in range(5)]
        requests.append(raw_request(b"GET", b"/proxies"))
        writer.write(b"".join(requests))
        for _ in range(5):
            assert (await read_response(reader)).status == 200
        assert (await read_response(reader)).body == b"{}"
    finally:
        writer.close()
