"""http_latency: per-request delay, pipelined requests not delayed twice, bodies intact."""

from __future__ import annotations

import time
from typing import Any

# Timing tolerance as in Toxiproxy's tests (expected ± jitter + 10 ms), widened for a
# loaded 2-core machine on the late side: lateness is noise, earliness is a bug.
LATE_S = 0.25


async def _timed(client: Any, request: bytes) -> tuple[float, int, bytes]:
    t0 = time.monotonic()
    await client.send(request)
    status, _, body, _ = await client.response()
    return time.monotonic() - t0, status, body


async def test_matched_requests_wait_unmatched_do_not(proxied: Any, client: Any) -> None:
    proxied.add("http_latency", stream="upstream", path="/slowed/*", latency_ms=200)
    elapsed, status, body = await _timed(client, b"GET /slowed/1 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, body) == (200, b"GET /slowed/1 0")
    assert 0.2 <= elapsed < 0.2 + LATE_S
    elapsed, _, _ = await _timed(client, b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
    assert elapsed < 0.15
    assert proxied.count("http_latency_upstream") == 1


async def test_pipelined_requests_are_delayed_once_each_in_order(
    proxied: Any, upstream: Any, client: Any
) -> None:
    proxied.add("http_latency", latency_ms=300)
    t0 = time.monotonic()
    await client.send(
        b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /3 HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    got = [await client.response() for _ in range(3)]
    elapsed = time.monotonic() - t0
    assert [b for _, _, b, _ in got] == [b"GET /1 0", b"GET /2 0", b"GET /3 0"]
    # Each waits 300 ms from its own arrival (all arrived together): ~0.3 s, not 0.9 s.
    assert 0.3 <= elapsed < 0.3 + LATE_S
    assert [r.path for r in upstream.requests] == ["/1", "/2", "/3"]


async def test_delay_is_per_request_not_per_chunk(proxied: Any, upstream: Any, client: Any) -> None:
    proxied.add("http_latency", method="POST", latency_ms=200, jitter_ms=20)
    body = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (b"a" * 10, b"b" * 300))
    t0 = time.monotonic()
    await client.send(b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    for piece in (body[:7], body[7:40], body[40:], b"0\r\n\r\n"):  # body in several writes
        await client.send(piece)
    status, _, got, _ = await client.response()
    elapsed = time.monotonic() - t0
    assert (status, got) == (200, b"POST /c 310")
    assert 0.18 <= elapsed < 0.22 + LATE_S  # one delay, not one per chunk
    assert upstream.requests[0].body == b"a" * 10 + b"b" * 300


async def test_removing_the_toxic_releases_held_requests(
    proxied: Any, client: Any, poll: Any, upstream: Any
) -> None:
    proxied.add("http_latency", latency_ms=60_000)
    await client.send(b"GET /held HTTP/1.1\r\nHost: x\r\n\r\n")
    await poll(lambda: proxied.count("http_latency_downstream") == 1)
    assert upstream.requests == []
    t0 = time.monotonic()
    proxied.manager.remove_toxic("web", "http_latency_downstream")
    status, _, body, _ = await client.response()
    assert (status, body) == (200, b"GET /held 0")
    assert time.monotonic() - t0 < 1.0


async def test_requests_after_removal_are_not_held(proxied: Any, client: Any, poll: Any) -> None:
    proxied.add("http_latency", latency_ms=60_000)
    proxied.add("http_header", name="keeps-framing", add={"X": "1"})
    await client.send(b"GET /held HTTP/1.1\r\nHost: x\r\n\r\n")
    await poll(lambda: proxied.count("http_latency_downstream") == 1)
    proxied.manager.remove_toxic("web", "http_latency_downstream")
    assert (await client.response())[2] == b"GET /held 0"
    elapsed, status, _ = await _timed(client, b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (status, elapsed < 1.0) == (200, True)
