"""http_header edits, and byte-exact forwarding of everything no toxic matched."""

from __future__ import annotations

import asyncio
from typing import Any

# A request written the way a sloppy-but-valid client might: odd header case, extra
# whitespace, chunk extensions and a trailer. Forwarded untouched, it must arrive as is.
ODD_REQUEST = (
    b"POST /odd?q=1 HTTP/1.1\r\nhOsT: x\r\nX-Spaces:    a  b\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
    b"3;name=val\r\nabc\r\n0\r\nX-Trailer: yes\r\n\r\n"
)


async def test_response_headers_add_replace_remove(proxied: Any, client: Any) -> None:
    proxied.add(
        "http_header",
        path="/chunked/*",
        add={"X-Added": "1"},
        replace={"x-seq": "replaced"},
        remove=["Transfer-Encoding-Not-Framing", "x-missing"],
    )
    await client.send(b"GET /chunked/4 HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body, _ = await client.response()
    assert status == 200
    assert headers["x-added"] == "1"
    assert headers["x-seq"] == "replaced"
    assert body == b"chunk-0\nchunk-1\nchunk-2\nchunk-3\n"  # chunked body intact
    await client.send(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n")  # not matched
    _, headers, _, _ = await client.response()
    assert "x-added" not in headers
    assert headers["x-seq"] == "2"
    assert proxied.count("http_header_downstream") == 1


async def test_request_headers_reach_the_upstream_edited(
    proxied: Any, upstream: Any, client: Any
) -> None:
    proxied.add(
        "http_header",
        target="request",
        method="POST",
        replace={"Host": "edited.example"},
        add={"X-Fault": "yes"},
        remove=["Authorization"],
    )
    await client.send(
        b"POST /a HTTP/1.1\r\nHost: x\r\nAuthorization: secret\r\nContent-Length: 2\r\n\r\nhi"
        b"GET /b HTTP/1.1\r\nHost: x\r\nAuthorization: secret\r\n\r\n"
    )
    got = [await client.response() for _ in range(2)]
    assert [b for _, _, b, _ in got] == [b"POST /a 2", b"GET /b 0"]
    first, second = upstream.requests
    assert first.headers["host"] == "edited.example"
    assert first.headers["x-fault"] == "yes"
    assert "authorization" not in first.headers
    assert first.body == b"hi"
    assert second.headers["authorization"] == "secret"


async def test_unmatched_messages_are_forwarded_byte_exact(
    proxied: Any, upstream: Any, client: Any
) -> None:
    # Toxics of every kind are present; none matches these requests.
    proxied.add("http_header", name="h", path="/nothing", add={"X": "1"})
    proxied.add("http_error", name="e", path="/nothing")
    proxied.add("http_latency", name="l", path="/nothing", latency_ms=1000)
    proxied.add("http_abort", name="a", path="/nothing")
    sent = ODD_REQUEST + b"GET /chunked/3 HTTP/1.1\r\nHost: x\r\n\r\n"
    await client.send(sent)
    via_proxy = [(await client.response())[3] for _ in range(2)]
    assert upstream.raw_bytes() == sent
    # The same requests straight to the upstream give the same response bytes.
    reader, writer = await asyncio.open_connection("127.0.0.1", upstream.port)
    writer.write(sent)
    direct = await asyncio.wait_for(reader.readexactly(len(b"".join(via_proxy))), 5)
    writer.close()
    await writer.wait_closed()
    assert b"".join(via_proxy) == direct
    assert all(proxied.count(n) == 0 for n in "hela")


async def test_toxics_combine_in_order(proxied: Any, upstream: Any, client: Any) -> None:
    # An error toxic added first and a header toxic after it: the header toxic must edit
    # the two real responses, not the synthesized one, and see responses in order.
    proxied.add("http_error", name="err", path="/fail", status=503)
    proxied.add("http_header", name="hdr", add={"X-Edited": "1"})
    await client.send(
        b"GET /slow/100 HTTP/1.1\r\nHost: x\r\n\r\nGET /fail HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    got = [await client.response() for _ in range(3)]
    assert [(s, h.get("x-edited")) for s, h, _, _ in got] == [
        (200, "1"),
        (503, None),
        (200, "1"),
    ]
    assert [r.path for r in upstream.requests] == ["/slow/100", "/c"]
    # Removing the first toxic on the live connection hands the session over intact.
    proxied.manager.remove_toxic("web", "err")
    await client.send(b"GET /fail HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, _, _ = await client.response()
    assert (status, headers.get("x-edited")) == (200, "1")


async def test_update_on_a_live_connection(proxied: Any, client: Any) -> None:
    from chaos_workbench.proxy.models import ToxicUpdate

    proxied.add("http_header", name="h", add={"X-V": "1"})
    await client.send(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (await client.response())[1]["x-v"] == "1"
    proxied.manager.update_toxic("web", "h", ToxicUpdate(attributes={"add": {"X-V": "2"}}))
    info = proxied.manager.get_toxic("web", "h")
    assert info.model_dump(mode="json")["attributes"]["add"] == {"X-V": "2"}
    await client.send(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body, _ = await client.response()
    assert (status, headers["x-v"], body) == (200, "2", b"GET /b 0")


async def test_toxicity_zero_never_acts(proxied: Any, client: Any) -> None:
    proxied.add("http_error", toxicity=0.0)
    for _ in range(5):
        await client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await client.response())[0] == 200
    assert proxied.count("http_error_downstream") == 0


async def test_expect_continue_interim_is_not_edited_final_is(proxied: Any, client: Any) -> None:
    import time

    proxied.add("http_header", name="h", replace={"X-Edited": "1"})
    proxied.add("http_latency", name="l", latency_ms=150)
    proxied.add("http_abort", name="a", path="/never")
    t0 = time.monotonic()
    await client.send(
        b"POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"
    )
    status, headers, _, raw = await client.response()
    assert (status, raw) == (100, b"HTTP/1.1 100 Continue\r\n\r\n")
    assert time.monotonic() - t0 >= 0.15  # the held head is what the upstream answers
    await client.send(b"hello")
    status, headers, body, _ = await client.response()
    assert (status, headers["x-edited"], body) == (200, "1", b"POST /e 5")
