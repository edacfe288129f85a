"""The REST API answers as Toxiproxy 2.x does: bytes, status codes, defaults, errors — and a
rejected request changes nothing."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time

import httpx
import pytest
from proxy_api_helpers import Api, Echo, split

import chaos_workbench
from chaos_workbench.proxy.testing import roundtrip_ms

PROXY_KEYS = ["name", "listen", "upstream", "enabled", "toxics"]
TOXIC_KEYS = ["attributes", "name", "type", "stream", "toxicity"]


async def create(api: Api, name: str, upstream: str, **extra: object) -> dict[str, object]:
    response = await api.http.post("/proxies", json={"name": name, "upstream": upstream, **extra})
    assert response.status_code == 201, response.text
    data: dict[str, object] = response.json()
    return data


async def snapshot(api: Api) -> bytes:
    response = await api.http.get("/proxies")
    assert response.status_code == 200
    return response.content


def error(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    # Toxiproxy: compact JSON, "error" then "status", and Go's http.Error newline.
    assert (
        response.content
        == json.dumps({"error": message, "status": status}, separators=(",", ":")).encode() + b"\n"
    )


def populate_error(response: httpx.Response, status: int, message: str) -> None:
    """Toxiproxy's Populate handler marshals the error beside ``proxies`` itself: the error
    fields, ``"proxies": null``, no trailing newline, no ``nosniff`` header."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert "x-content-type-options" not in response.headers
    expected = {"error": message, "status": status, "proxies": None}
    assert response.content == json.dumps(expected, separators=(",", ":")).encode()


def free_address() -> str:
    """A loopback address nothing listens on (bound and released at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


async def echoes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> bool:
    """Whether ``data`` comes back through an open connection within 5 s."""
    writer.write(data)
    return await asyncio.wait_for(reader.readexactly(len(data)), 5) == data


async def test_empty_index_is_an_empty_object(api: Api) -> None:
    response = await api.http.get("/proxies")
    assert response.status_code == 200
    assert response.content == b"{}"
    assert response.headers["content-type"] == "application/json"


async def test_create_proxy_shape_and_ephemeral_listen(api: Api, echo: Echo) -> None:
    response = await api.http.post(
        "/proxies", json={"name": "db", "listen": "127.0.0.1:0", "upstream": echo.address}
    )
    assert response.status_code == 201
    data = response.json()
    assert list(data) == PROXY_KEYS
    host, port = split(data["listen"])
    assert (host, data["upstream"], data["enabled"], data["toxics"]) == (
        "127.0.0.1",
        echo.address,
        True,
        [],
    )
    assert port > 0
    # The reported port really is the proxy: bytes go through to the echo server.
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"ping")
    assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
    writer.close()
    # Compact JSON, Toxiproxy's key order, exactly what GET returns too.
    shown = await api.http.get("/proxies/db")
    assert shown.content == response.content


async def test_listen_defaults_to_loopback_ephemeral(api: Api, echo: Echo) -> None:
    data = await create(api, "db", echo.address)
    host, port = split(str(data["listen"]))
    assert host == "127.0.0.1"
    assert port > 0


async def test_create_disabled_does_not_listen(api: Api, echo: Echo) -> None:
    address = free_address()
    data = await create(api, "db", echo.address, listen=address, enabled=False)
    assert (data["enabled"], data["listen"]) == (False, address)
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(*split(address))
    # The same address serves once the proxy is enabled: the refusal was the proxy's state.
    assert (await api.http.patch("/proxies/db", json={"enabled": True})).status_code == 200
    reader, writer = await asyncio.open_connection(*split(address))
    assert await echoes(reader, writer, b"up")
    writer.close()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"upstream": "127.0.0.1:1"}, "missing required field: name"),
        ({"name": "", "upstream": "127.0.0.1:1"}, "missing required field: name"),
        ({"name": "x"}, "missing required field: upstream"),
    ],
)
async def test_create_missing_fields(api: Api, body: dict[str, str], message: str) -> None:
    error(await api.http.post("/proxies", json=body), 400, message)
    assert await snapshot(api) == b"{}"


@pytest.mark.parametrize(
    "content",
    [b"", b"{bad json", b"[1, 2]", b'{"name": 5, "upstream": "127.0.0.1:1"}', b'"text"'],
)
async def test_create_malformed_body_is_400_and_changes_nothing(api: Api, content: bytes) -> None:
    response = await api.http.post("/proxies", content=content)
    assert response.status_code == 400
    assert response.json()["error"].startswith("bad request body")
    assert response.json()["status"] == 400
    assert await snapshot(api) == b"{}"


async def test_empty_body_says_eof_like_go(api: Api) -> None:
    error(await api.http.post("/proxies", content=b""), 400, "bad request body: EOF")


async def test_go_decoding_rules(api: Api, echo: Echo) -> None:
    # Keys match case-insensitively, unknown keys are ignored, null keeps the default,
    # and only the first JSON value of the body is read.
    body = b'{"Name": "db", "UPSTREAM": "%s", "enabled": null, "extra": [1]} trailing' % (
        echo.address.encode()
    )
    response = await api.http.post("/proxies", content=body)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "db"
    assert response.json()["enabled"] is True


async def test_duplicate_name_is_409(api: Api, echo: Echo) -> None:
    await create(api, "db", echo.address)
    before = await snapshot(api)
    error(
        await api.http.post("/proxies", json={"name": "db", "upstream": "127.0.0.1:1"}),
        409,
        "proxy already exists",
    )
    assert await snapshot(api) == before


async def test_port_conflict_is_500_with_the_os_error(api: Api, echo: Echo) -> None:
    data = await create(api, "a", echo.address)
    response = await api.http.post(
        "/proxies", json={"name": "b", "listen": data["listen"], "upstream": echo.address}
    )
    assert response.status_code == 500
    message = response.json()["error"]
    assert message.startswith(f"listen tcp {data['listen']}")
    assert "in use" in message
    assert list((await api.http.get("/proxies")).json()) == ["a"]


async def test_unknown_proxy_is_404_everywhere(api: Api) -> None:
    for method, path in [
        ("GET", "/proxies/nope"),
        ("POST", "/proxies/nope"),
        ("PATCH", "/proxies/nope"),
        ("DELETE", "/proxies/nope"),
        ("GET", "/proxies/nope/toxics"),
        ("POST", "/proxies/nope/toxics"),
        ("GET", "/proxies/nope/toxics/t"),
        ("PATCH", "/proxies/nope/toxics/t"),
        ("DELETE", "/proxies/nope/toxics/t"),
    ]:
        response = await api.http.request(method, path, json={"enabled": True})
        error(response, 404, "proxy not found")


async def test_update_toggles_and_keeps_other_fields(api: Api, echo: Echo) -> None:
    data = await create(api, "db", echo.address)
    host, port = split(str(data["listen"]))
    response = await api.http.patch("/proxies/db", json={"enabled": False})
    assert response.status_code == 200
    assert response.json() == {**data, "enabled": False}
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(host, port)
    # POST is Toxiproxy's deprecated spelling of the same update; toxiproxy-python uses it.
    response = await api.http.post("/proxies/db", json={"enabled": True})
    assert response.json() == data
    _reader, writer = await asyncio.open_connection(host, port)
    writer.close()


async def test_update_with_wrong_type_changes_nothing(api: Api, echo: Echo) -> None:
    await create(api, "db", echo.address)
    before = await snapshot(api)
    for content in [b'{"enabled": "no"}', b'{"listen": 5}', b"", b"{"]:
        response = await api.http.patch("/proxies/db", content=content)
        assert response.status_code == 400, content
        assert response.json()["error"].startswith("bad request body")
    assert await snapshot(api) == before


async def test_update_to_a_busy_address_keeps_the_proxy_and_its_connections(
    api: Api, echo: Echo
) -> None:
    await create(api, "db", echo.address)
    before = await snapshot(api)
    shown_before = (await api.http.get("/proxies/db")).content
    host, port = split(json.loads(shown_before)["listen"])
    reader, writer = await asyncio.open_connection(host, port)
    assert await echoes(reader, writer, b"before")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = f"127.0.0.1:{busy.getsockname()[1]}"
        for method in ("PATCH", "POST"):
            response = await api.http.request(method, "/proxies/db", json={"listen": taken})
            error(response, 500, f"listen tcp {taken}: bind: address already in use")
            # The refused update dropped nothing: the open connection still relays ...
            assert await echoes(reader, writer, method.encode())
    # ... new connections are still accepted, and the proxy reads as it did.
    _r, other = await asyncio.open_connection(host, port)
    other.close()
    assert (await api.http.get("/proxies/db")).content == shown_before
    assert await snapshot(api) == before
    writer.close()


async def test_update_to_a_bad_upstream_keeps_the_proxy(api: Api, echo: Echo) -> None:
    data = await create(api, "db", echo.address)
    reader, writer = await asyncio.open_connection(*split(str(data["listen"])))
    before = await snapshot(api)
    response = await api.http.patch("/proxies/db", json={"upstream": "no-port"})
    assert response.status_code == 500
    assert await echoes(reader, writer, b"still")
    assert await snapshot(api) == before
    writer.close()


async def test_delete_proxy_is_204_then_404(api: Api, echo: Echo) -> None:
    data = await create(api, "db", echo.address)
    response = await api.http.delete("/proxies/db")
    assert (response.status_code, response.content) == (204, b"")
    error(await api.http.delete("/proxies/db"), 404, "proxy not found")
    host, port = split(str(data["listen"]))
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(host, port)


# -- toxics ------------------------------------------------------------------------------------


async def test_toxic_defaults_and_status_200(api: Api, echo: Echo) -> None:
    await create(api, "db", echo.address)
    response = await api.http.post("/proxies/db/toxics", json={"type": "latency"})
    assert response.status_code == 200  # Toxiproxy answers 200, not 201, for a toxic
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    assert list(data) == TOXIC_KEYS
    assert (data["name"], data["type"], data["stream"]) == (
        "latency_downstream",
        "latency",
        "downstream",
    )
    assert data["attributes"]["latency"] == 0
    assert data["attributes"]["jitter"] == 0
    # Go prints float32(1) as 1.
    assert b'"toxicity":1}' in response.content
    listed = await api.http.get("/proxies/db/toxics")
    assert listed.json() == [data]
    shown = await api.http.get("/proxies/db/toxics/latency_downstream")
    assert shown.content == response.content


async def test_latency_toxic_golden_bytes(api: Api, echo: Echo) -> None:
    """Exactly Toxiproxy 2.12's answer to ``POST {"type": "latency"}``: field order,
    compact JSON, ``1`` for toxicity, and no attribute of ours at its default."""
    await create(api, "db", echo.address)
    response = await api.http.post("/proxies/db/toxics", json={"type": "latency"})
    assert response.status_code == 200
    assert response.content == (
        b'{"attributes":{"latency":0,"jitter":0},"name":"latency_downstream",'
        b'"type":"latency","stream":"downstream","toxicity":1}'
    )
    for path in ("/proxies/db/toxics", "/proxies/db"):
        assert b'"distribution"' not in (await api.http.get(path)).content


async def test_latency_toxic_with_a_distribution_shows_it(api: Api, echo: Echo) -> None:
    await create(api, "db", echo.address)
    body = {"type": "latency", "attributes": {"latency": 50, "jitter": 5, "distribution": "normal"}}
    response = await api.http.post("/proxies/db/toxics", json=body)
    assert response.content == (
        b'{"attributes":{"latency":50,"jitter":5,"distribution":"normal"},'
        b'"name":"latency_downstream","type":"latency","stream":"downstream","toxicity":1}'
    )
    # An update that does not name it keeps it; setting the default hides it again.
    path = "/proxies/db/toxics/latency_downstream"
    kept = await api.http.patch(path, json={"attributes": {"latency": 60}})
    assert kept.json()["attributes"] == {"latency": 60, "jitter": 5, "distribution": "normal"}
    reset = await api.http.patch(path, json={"attributes": {"distribution": "uniform"}})
    assert reset.json()["attributes"] == {"latency": 60, "jitter": 5}


async def test_toxic_names_are_unique_across_streams(api: Api, echo: Echo) -> None:
    await create(api, "db", echo.address)
    body = {"name": "slow", "type": "latency", "stream": "upstream"}
    assert (await api.http.post("/proxies/db/toxics", json=body)).status_code == 200
    before = await snapshot(api)
    error(
        await api.http.post("/proxies/db/toxics", json={**body, "stream": "downstream"}),
        409,
        "toxic already exists",
    )
    assert await snapshot(api) == before
    # Default names differ by stream, so one of each is fine.
    for stream in ("upstream", "downstream"):
        response = await api.http.post(
            "/proxies/db/toxics", json={"type": "latency", "stream": stream}
        )
        assert response.json()["name"] == f"latency_{stream}"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"type": "latency", "stream": "sideways"},
            "stream was invalid, can be either upstream or downstream",
        ),
        ({"type": "no_such_toxic"}, "invalid toxic type"),
        ({}, "invalid toxic type"),
    ],
)
async def test_toxic_errors_in_toxiproxy_words(
    api: Api, echo: Echo, body: dict[str, str], message: str
) -> None:
    await create(api, "db", echo.address)
    before = await snapshot(api)
    error(await api.http.post("/proxies/db/toxics", json=body), 400, message)
    assert await snapshot(api) == before


@pytest.mark.parametrize(
    "content",
    [
        b'{"type": "latency", "attributes": {"latency": "slow"}}',
        b'{"type": "latency", "attributes": {"latency": -5}}',
        b'{"type": "latency", "attributes": [1]}',
        b'{"type": "latency", "toxicity": "all"}',
        b'{"type": "latency", "toxicity": 2}',
        b'{"type": 7}',
        b"{nope",
        b"",
    ],
)
async def test_bad_toxic_bodies_are_400_and_change_nothing(
    api: Api, echo: Echo, content: bytes
) -> None:
    await create(api, "db", echo.address)
    before = await snapshot(api)
    response = await api.http.post("/proxies/db/toxics", content=content)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith("bad request body")
    assert await snapshot(api) == before


async def test_update_toxic_merges_attributes_and_keeps_toxicity(api: Api, echo: Echo) -> None:
    await create(api, "db", echo.address)
    await api.http.post(
        "/proxies/db/toxics",
        json={"type": "latency", "toxicity": 0.5, "attributes": {"latency": 100, "jitter": 10}},
    )
    response = await api.http.patch(
        "/proxies/db/toxics/latency_downstream", json={"attributes": {"latency": 1000}}
    )
    assert response.status_code == 200
    data = response.json()
    assert data["attributes"]["latency"] == 1000
    assert data["attributes"]["jitter"] == 10
    assert data["toxicity"] == 0.5
    # POST is the deprecated spelling; toxicity alone changes only toxicity.
    response = await api.http.post("/proxies/db/toxics/latency_downstream", json={"toxicity": 1})
    assert response.json()["toxicity"] == 1
    assert response.json()["attributes"]["latency"] == 1000


async def test_update_toxic_errors(api: Api, echo: Echo) -> None:
    await create(api, "db", echo.address)
    # Unknown toxic: 404 even when the body is bad (Toxiproxy looks the toxic up first).
    error(await api.http.patch("/proxies/db/toxics/none", content=b"{"), 404, "toxic not found")
    await api.http.post("/proxies/db/toxics", json={"type": "latency"})
    before = await snapshot(api)
    for content in [b'{"attributes": {"latency": "x"}}', b'{"toxicity": 3}', b"{"]:
        response = await api.http.patch("/proxies/db/toxics/latency_downstream", content=content)
        assert response.status_code == 400, content
    assert await snapshot(api) == before


async def test_delete_toxic_204_then_404(api: Api, echo: Echo) -> None:
    await create(api, "db", echo.address)
    await api.http.post("/proxies/db/toxics", json={"type": "latency"})
    response = await api.http.delete("/proxies/db/toxics/latency_downstream")
    assert (response.status_code, response.content) == (204, b"")
    error(await api.http.delete("/proxies/db/toxics/latency_downstream"), 404, "toxic not found")
    assert (await api.http.get("/proxies/db/toxics")).content == b"[]"


async def test_toxic_ttl_expires_by_itself(api: Api, echo: Echo) -> None:
    await create(api, "db", echo.address)
    response = await api.http.post("/proxies/db/toxics", json={"type": "latency", "ttl_ms": 150})
    assert response.status_code == 200
    assert "ttl_ms" not in response.json()  # Toxiproxy's shape: the TTL is not shown
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if (await api.http.get("/proxies/db/toxics")).json() == []:
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("the toxic with ttl_ms=150 was still there after 5 s")


async def test_toxic_ttl_ends_its_effect_on_an_open_connection(api: Api, echo: Echo) -> None:
    """Not only the listing: an expired latency toxic no longer delays a connection that
    was open (and delayed) before it expired."""
    data = await create(api, "db", echo.address)
    reader, writer = await asyncio.open_connection(*split(str(data["listen"])))
    assert await roundtrip_ms(reader, writer) < 1000  # connected through before the toxic
    body = {"type": "latency", "attributes": {"latency": 300}, "ttl_ms": 200}
    assert (await api.http.post("/proxies/db/toxics", json=body)).status_code == 200
    # The toxic acts until it expires (held bytes are then delivered, not dropped) ...
    assert await roundtrip_ms(reader, writer, b"held") >= 150
    # ... and afterwards round trips are fast again. Bounded: ~16 tries if it never expired.
    deadline = time.monotonic() + 5
    fast = False
    while not fast and time.monotonic() < deadline:
        fast = await roundtrip_ms(reader, writer) < 100
    assert fast, "round trips were still slow 5 s after the toxic's 200 ms TTL"
    assert (await api.http.get("/proxies/db/toxics")).content == b"[]"
    writer.close()


@pytest.mark.parametrize("ttl", [b"0", b"-1", b'"x"', b"1.5", b"true", b"[200]"])
async def test_bad_ttl_is_400_and_changes_nothing(api: Api, echo: Echo, ttl: bytes) -> None:
    """``ttl_ms`` is a whole number of milliseconds above 0 (absent or null: no TTL)."""
    await create(api, "db", echo.address)
    before = await snapshot(api)
    content = b'{"type": "latency", "ttl_ms": ' + ttl + b"}"
    response = await api.http.post("/proxies/db/toxics", content=content)
    assert response.status_code == 400, response.text
    assert response.json()["error"].startswith("bad request body: ")
    assert await snapshot(api) == before


async def test_null_ttl_means_no_ttl(api: Api, echo: Echo) -> None:
    # Go's rule for every field: null keeps the default (here: the toxic stays until removed).
    await create(api, "db", echo.address)
    content = b'{"type": "latency", "ttl_ms": null}'
    response = await api.http.post("/proxies/db/toxics", content=content)
    assert response.status_code == 200, response.text
    assert [t["name"] for t in (await api.http.get("/proxies/db/toxics")).json()] == [
        "latency_downstream"
    ]


# -- whole server ------------------------------------------------------------------------------


async def test_reset_enables_all_and_removes_toxics(api: Api, echo: Echo) -> None:
    await create(api, "a", echo.address)
    await create(api, "b", echo.address, enabled=False)
    await api.http.post("/proxies/a/toxics", json={"type": "latency"})
    response = await api.http.post("/reset")
    assert (response.status_code, response.content) == (204, b"")
    proxies = (await api.http.get("/proxies")).json()
    assert {n: (p["enabled"], p["toxics"]) for n, p in proxies.items()} == {
        "a": (True, []),
        "b": (True, []),
    }


async def test_version_is_toxiproxy_shaped(api: Api) -> None:
    response = await api.http.get("/version")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json;charset=utf-8"
    assert response.text.endswith("\n")
    assert response.json()["version"] == "2.12.0"
    # Ruby's Gem::Version::ANCHORED_VERSION_PATTERN: what the Ruby client parses the answer
    # with; semver build metadata ("+cwb.0.1.0") fails it and the client downgrades its verbs.
    gem_version = re.compile(
        r"\A\s*([0-9]+(?>\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?)?\s*\Z"
    )
    assert gem_version.match(response.json()["version"])
    assert response.headers["x-chaos-workbench-version"] == chaos_workbench.__version__


async def test_browsers_are_refused_and_change_nothing(api: Api) -> None:
    browser = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"}
    response = await api.http.post(
        "/proxies", json={"name": "x", "upstream": "127.0.0.1:1"}, headers=browser
    )
    assert (response.status_code, response.text) == (403, "User agent not allowed\n")
    assert (await api.http.get("/version", headers=browser)).status_code == 403
    assert await snapshot(api) == b"{}"


async def test_unknown_routes_and_methods(api: Api) -> None:
    response = await api.http.get("/nope")
    assert (response.status_code, response.text) == (404, "404 page not found\n")
    response = await api.http.put("/proxies", json={})
    assert (response.status_code, response.content) == (405, b"")


async def test_populate_creates_keeps_and_replaces(api: Api, echo: Echo) -> None:
    kept = await create(api, "kept", echo.address)
    await api.http.post("/proxies/kept/toxics", json={"type": "latency"})
    replaced = await create(api, "replaced", echo.address)
    body = [
        {"name": "kept", "listen": kept["listen"], "upstream": echo.address},
        {"name": "replaced", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"},
        {"name": "new", "upstream": echo.address, "enabled": False},
    ]
    response = await api.http.post("/populate", json=body)
    assert response.status_code == 201
    data = response.json()
    assert list(data) == ["proxies"]
    by_name = {p["name"]: p for p in data["proxies"]}
    assert [p["name"] for p in data["proxies"]] == ["kept", "replaced", "new"]
    assert len(by_name["kept"]["toxics"]) == 1  # untouched, toxics and all
    assert by_name["replaced"]["upstream"] == "127.0.0.1:1"
    assert by_name["replaced"]["listen"] != replaced["listen"]
    assert by_name["new"]["enabled"] is False


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            [{"name": "a", "upstream": "127.0.0.1:1"}, {"upstream": "x:1"}],
            "missing required field: name at proxy 2",
        ),
        ([{"name": "a"}], "missing required field: upstream at proxy 1"),
    ],
)
async def test_populate_rejects_whole_request(
    api: Api, echo: Echo, body: list[dict[str, str]], message: str
) -> None:
    await create(api, "a", echo.address)
    before = await snapshot(api)
    populate_error(await api.http.post("/populate", json=body), 400, message)
    assert await snapshot(api) == before


# PopulateJson's element type as Go's reflect prints it in decode errors.
_ITEM = 'struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }'


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "bad request body: EOF"),
        (b"{}", f"bad request body: json: cannot unmarshal object into Go value of type []{_ITEM}"),
        (b"[1]", f"bad request body: json: cannot unmarshal number into Go value of type {_ITEM}"),
        (
            b'[{"name": 5, "upstream": "x:1"}]',
            "bad request body: json: cannot unmarshal number into Go struct field .name "
            "of type string",
        ),
    ],
)
async def test_populate_malformed(api: Api, content: bytes, message: str) -> None:
    response = await api.http.post("/populate", content=content)
    populate_error(response, 400, message)
    assert await snapshot(api) == b"{}"


async def test_populate_bad_json_has_the_populate_envelope(api: Api) -> None:
    response = await api.http.post("/populate", content=b"[{")
    assert response.status_code == 400
    assert response.content.startswith(b'{"error":"bad request body: ')
    assert response.content.endswith(b'","status":400,"proxies":null}')  # no newline
    assert await snapshot(api) == b"{}"


async def test_populate_that_cannot_bind_changes_nothing(api: Api, echo: Echo) -> None:
    await create(api, "a", echo.address)
    before = await snapshot(api)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = f"127.0.0.1:{busy.getsockname()[1]}"
        body = [
            {"name": "a", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:1"},  # would replace
            {"name": "b", "listen": taken, "upstream": echo.address},
        ]
        response = await api.http.post("/populate", json=body)
    populate_error(response, 500, f"listen tcp {taken}: bind: address already in use")
    assert await snapshot(api) == before


async def test_populate_same_port_twice_is_refused(api: Api, echo: Echo) -> None:
    free = free_address()
    body = [
        {"name": "a", "listen": free, "upstream": echo.address},
        {"name": "b", "listen": free, "upstream": echo.address},
    ]
    response = await api.http.post("/populate", json=body)
    populate_error(response, 500, f"listen tcp {free}: bind: address already in use")
    assert await snapshot(api) == b"{}"


async def test_populate_may_reuse_the_address_of_a_replaced_proxy(api: Api, echo: Echo) -> None:
    old = await create(api, "a", "127.0.0.1:1")
    response = await api.http.post(
        "/populate", json=[{"name": "a", "listen": old["listen"], "upstream": echo.address}]
    )
    assert response.status_code == 201
    (proxy,) = response.json()["proxies"]
    assert (proxy["listen"], proxy["upstream"]) == (old["listen"], echo.address)


async def test_populate_duplicate_names_in_toxiproxy_words(api: Api, echo: Echo) -> None:
    body = [{"name": "x", "upstream": echo.address}, {"name": "x", "upstream": echo.address}]
    populate_error(await api.http.post("/populate", json=body), 500, 'duplicate proxy name "x"')
    assert await snapshot(api) == b"{}"
