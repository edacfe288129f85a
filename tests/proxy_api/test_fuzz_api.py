"""Property: whatever is thrown at the API — random and mutated JSON bodies, methods, paths
and names — it answers (never a 5xx but the documented 500s of binding and address
errors), and afterwards still answers ``GET /proxies`` and ``GET /metrics`` with 200 and
valid content. One server takes every example in turn, so each request meets the state
all earlier ones left behind: a request that breaks later ones is caught.

Requests go over raw sockets (``Connection: close``, always well framed) so methods and
paths reach the server exactly as generated. Listen addresses come from a fixed pool that
needs no DNS (a random host name would make an example wait on a resolver).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote, unquote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from proxy_api_helpers import Api, assert_healthy, raw_request, split

from chaos_workbench.proxy.manager import load_toxic_types
from chaos_workbench.proxy.toxics.base import all_types

load_toxic_types()  # every toxic type, the HTTP ones too, for the strategies below

NAME_POOL = ["db", "cache", "{}", "a b", "100%", "😀", "\ufffd", "a/b", ".", "..", "", "x" * 1025]
names = st.one_of(st.sampled_from(NAME_POOL), st.text(max_size=12))
# Strings Python's json.dumps escapes as lone surrogates ("\ud800").
surrogates = st.sampled_from(["\ud800", "a\udc00", "\udbff\udbff", "\udfff\ud800x"])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=10),
    surrogates,
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
# Number literals json.dumps cannot write: beyond float64, not JSON, too many digits.
RAW_NUMBERS = [b"1e400", b"-1e400", b"NaN", b"Infinity", b"1" + b"0" * 30, b"9" * 5000, b"2e308"]

LISTEN_POOL = ["127.0.0.1:0", "", "nonsense", "127.0.0.1:99999", "[::1]:0", "127.0.0.1:0:0"]
UPSTREAM_POOL = ["127.0.0.1:1", "", "x", "127.0.0.1:99999"]
TOXIC_TYPES = [*all_types(), "nope", ""]
ATTRIBUTE_NAMES = [
    "latency",
    "jitter",
    "rate",
    "timeout",
    "bytes",
    "delay",
    "average_size",
    "size_variation",
    "time",
    "probability",
    "status",
    "body",
    "path",
    "method",
]


@st.composite
def proxy_body(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"name": draw(names | surrogates)}
    if draw(st.booleans()):
        body["upstream"] = draw(st.sampled_from(UPSTREAM_POOL))
    if draw(st.booleans()):
        body["listen"] = draw(st.sampled_from(LISTEN_POOL))
    if draw(st.booleans()):
        body["enabled"] = draw(scalars)
    extra = draw(st.dictionaries(st.text(max_size=6), json_values, max_size=2))
    return {**{k: v for k, v in extra.items() if k.lower() not in ("listen",)}, **body}


@st.composite
def toxic_body(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, values in [
        ("name", names | surrogates),
        ("type", st.sampled_from(TOXIC_TYPES)),
        ("stream", st.sampled_from(["upstream", "downstream", "both", ""]) | scalars),
        ("toxicity", scalars),
        ("ttl_ms", st.integers(min_value=-5, max_value=2**65) | scalars),
    ]:
        if draw(st.booleans()):
            body[key] = draw(values)
    if draw(st.booleans()):
        keys = st.sampled_from(ATTRIBUTE_NAMES) | st.text(max_size=6)
        body["attributes"] = draw(st.dictionaries(keys, json_values, max_size=3))
    return body


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bytes deleted, inserted or replaced, or a raw number spliced in."""
    out = bytearray(data)
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(out)))
        action = draw(st.sampled_from(["delete", "insert", "replace", "number"]))
        byte = draw(st.integers(0, 255))
        if action == "delete" and at < len(out):
            del out[at]
        elif action == "insert":
            out.insert(at, byte)
        elif action == "replace" and at < len(out):
            out[at] = byte
        elif action == "number":
            out[at:at] = draw(st.sampled_from(RAW_NUMBERS))
    return bytes(out)


def target(*segments: str, raw: bool = False) -> bytes:
    # raw: braces and the like unencoded, as a client that does not quote sends them;
    # still never a space or a control byte (the request stays well framed).
    safe = "{}!$&'()*+,;=:@" if raw else ""
    return ("/proxies/" + "/".join(quote(s, safe=safe) for s in segments)).encode()


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, bytes, bytes]:
    """(method, target, body)."""
    kind = draw(st.sampled_from(["create", "populate", "proxy", "toxics", "toxic", "other"]))
    raw = draw(st.booleans())
    proxy, toxic = draw(names), draw(names)
    if kind == "create":
        method, path = b"POST", b"/proxies"
        body = json.dumps(draw(proxy_body())).encode()
    elif kind == "populate":
        method, path = b"POST", b"/populate"
        body = json.dumps(draw(st.lists(proxy_body(), max_size=3) | json_values)).encode()
    elif kind == "proxy":
        method = draw(st.sampled_from([b"GET", b"PATCH", b"POST", b"DELETE"]))
        path = target(proxy, raw=raw)
        body = json.dumps(draw(proxy_body() | json_values)).encode()
    elif kind == "toxics":
        method, path = draw(st.sampled_from([b"GET", b"POST"])), target(proxy, "toxics", raw=raw)
        body = draw(mutated(json.dumps(draw(toxic_body())).encode()))
    elif kind == "toxic":
        method = draw(st.sampled_from([b"GET", b"PATCH", b"POST", b"DELETE"]))
        path = target(proxy, "toxics", toxic, raw=raw)
        body = draw(mutated(json.dumps(draw(toxic_body())).encode()))
    else:
        method = draw(
            st.sampled_from([b"GET", b"POST", b"PUT", b"HEAD", b"BREW", b"get", b"PROPFIND"])
            | st.from_regex(rb"\A[A-Za-z!#$%&'*+.^_`|~-]{1,12}\Z")
            | st.binary(min_size=1, max_size=6).filter(lambda m: not set(m) & set(b" \r\n"))
        )
        path = draw(
            st.sampled_from([b"/proxies", b"/populate", b"/reset", b"/version", b"/metrics", b"/"])
            | st.text(max_size=20).map(lambda t: quote("/" + t, safe="/{}%").encode())
        )
        body = draw(st.binary(max_size=40) | json_values.map(lambda v: json.dumps(v).encode()))
    return method, path, body


def may_fail_with_500(method: bytes, path: bytes) -> bool:
    """The documented 500s: a listen address that cannot be bound, an upstream that is not
    host:port (creating, updating, populating, re-enabling on reset); populate's duplicate
    names. Never on a toxic or a read."""
    if path in (b"/proxies", b"/populate", b"/reset"):
        return method == b"POST"
    return method in (b"POST", b"PATCH") and path.count(b"/") == 2


async def send(api: Api, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection; the whole answer (the server closes after it)."""
    host, port = split(api.url.removeprefix("http://"))
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        answer = await asyncio.wait_for(reader.read(), 10)  # to EOF: Connection: close
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines)}
    return int(status_line.split(" ")[1]), headers, body


@settings(
    max_examples=150,
    deadline=timedelta(seconds=3),  # one example is ~10 ms; generous for a loaded machine
    database=None,  # nothing written into the source tree
    # One server for all examples, on purpose: each request meets the state the earlier
    # ones left, which is what "no request may make later requests fail" is about.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(request=requests())
async def test_no_request_breaks_the_api(api: Api, request: tuple[bytes, bytes, bytes]) -> None:
    method, path, body = request
    status, headers, content = await send(api, raw_request(method, path, body))
    if status >= 500:
        assert status == 500, (status, content)
        assert may_fail_with_500(method, path), (method, path, content)
        error = json.loads(content)
        assert error["status"] == 500
        assert isinstance(error["error"], str)
    if headers.get("content-type", "").startswith("application/json") and method != b"HEAD":
        json.loads(content.decode("utf-8"))  # every JSON answer is valid UTF-8 JSON
    await assert_healthy(api)
    await assert_addressable(api, request, status, content)


async def assert_addressable(
    api: Api, request: tuple[bytes, bytes, bytes], status: int, content: bytes
) -> None:
    """What was just created can be fetched at its URL (its name routes)."""
    method, path, body = request
    created: list[tuple[str, ...]] = []
    if (method, path, status) == (b"POST", b"/proxies", 201):
        created.append((json.loads(content)["name"],))
    elif (method, path, status) == (b"POST", b"/populate", 201):
        created += [(p["name"],) for p in json.loads(content)["proxies"]]
    elif (method, status) == (b"POST", 200) and path.endswith(b"/toxics"):
        proxy = unquote(path.decode().split("/")[2])
        if b"ttl_ms" not in body.lower():  # a toxic with a TTL may be gone already
            created.append((proxy, "toxics", json.loads(content)["name"]))
    for segments in created:
        url = target(*segments).decode()
        response = await api.http.get(url)
        assert response.status_code == 200, (url, response.text)
