"""Bodies no client would send — 50 MB, 100,000 levels of nesting, lone surrogates, numbers
no Go type holds — get the answer Toxiproxy gives (or a 400 that names our limit), and the
server goes on answering. (Toxiproxy reads any body; ours must not fall over on one.)"""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest
from proxy_api_helpers import Api, Echo, assert_healthy

from chaos_workbench.limits import MAX_API_BODY_BYTES, MAX_DEPTH, MAX_JSON_NUMBER_DIGITS


async def assert_still_serving(api: Api) -> None:
    response = await api.http.get("/proxies")
    assert (response.status_code, response.content) == (200, b"{}")


@pytest.mark.parametrize("path", ["/proxies", "/populate", "/proxies/x/toxics"])
async def test_a_50_mb_body_is_refused_naming_the_limit(api: Api, path: str) -> None:
    body = b'{"name": "' + b"x" * (50 * 1024 * 1024) + b'"}'
    started = time.monotonic()
    response = await api.http.post(path, content=body)
    elapsed_s = time.monotonic() - started
    if path == "/proxies/x/toxics":  # Toxiproxy looks the proxy up first, as we do
        assert response.status_code == 404
    else:
        assert response.status_code == 400
        limit_mib = MAX_API_BODY_BYTES // (1024 * 1024)
        assert response.json()["error"] == (
            f"bad request body: request body larger than {limit_mib} MiB, the limit"
        )
    assert elapsed_s < 5.0  # most of it is the client writing 50 MB to loopback
    await assert_still_serving(api)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
@pytest.mark.parametrize("path", ["/proxies", "/populate"])
async def test_deep_nesting_is_refused_naming_the_limit(api: Api, path: str, depth: int) -> None:
    body = b"[" * depth + b"]" * depth
    started = time.process_time()
    response = await api.http.post(path, content=body)
    assert time.process_time() - started < 1.0  # server and client share this process
    assert response.status_code == 400
    assert response.json()["error"] == (
        f"bad request body: invalid JSON: nested more than {MAX_DEPTH} levels deep (the limit)"
    )
    await assert_still_serving(api)


async def test_nesting_within_the_limit_is_decoded_as_before(api: Api) -> None:
    """Depth itself is no error: a nested value under the bound gets Go's type message."""
    nested = b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1)
    response = await api.http.post("/proxies", content=nested)
    assert response.status_code == 400
    assert response.json()["error"] == (
        "bad request body: json: cannot unmarshal array into Go value of type toxiproxy.Proxy"
    )


# -- lone surrogates: replaced by U+FFFD, as Go's decoder does -------------------------------


@pytest.mark.parametrize(
    ("escaped", "stored"),
    [
        ("\\ud800", "\ufffd"),  # a lone high half
        ("\\udc00", "\ufffd"),  # a lone low half
        ("a\\ud800b", "a\ufffdb"),
        ("\\ud800\\ud800", "\ufffd\ufffd"),  # two high halves: not a pair
        ("\\ude00\\ud83d", "\ufffd\ufffd"),  # the halves of 😀 in the wrong order
        ("\\ud83d\\ude00", "😀"),  # a valid pair decodes as before
        ("\\ud800\\u0041", "\ufffdA"),
    ],
)
async def test_a_lone_surrogate_in_a_name_becomes_u_fffd(
    api: Api, echo: Echo, escaped: str, stored: str
) -> None:
    """The fuzzer's ``"\\ud800"`` answered 500 and broke every later ``GET /proxies``."""
    body = f'{{"name": "{escaped}", "upstream": "{echo.address}"}}'.encode()
    response = await api.http.post("/proxies", content=body)
    assert response.status_code == 201, response.text
    assert response.json()["name"] == stored
    assert list(await assert_healthy(api)) == [stored]
    shown = await api.http.get(f"/proxies/{quote(stored, safe='')}")
    assert (shown.status_code, shown.json()["name"]) == (200, stored)
    assert (await api.http.post("/reset")).status_code == 204
    assert (await api.http.delete(f"/proxies/{quote(stored, safe='')}")).status_code == 204
    assert await assert_healthy(api) == {}


async def test_lone_surrogates_anywhere_in_any_body_are_replaced(api: Api, echo: Echo) -> None:
    """Keys, values, nested values, every endpoint: nothing stored can fail to encode."""
    lone = "\\udfff"
    populate = f'[{{"name": "p{lone}", "upstream": "{echo.address}", "{lone}": [{{"{lone}": 1}}]}}]'
    response = await api.http.post("/populate", content=populate.encode())
    assert response.status_code == 201, response.text
    assert response.json()["proxies"][0]["name"] == "p\ufffd"
    proxy = quote("p\ufffd", safe="")
    toxic = (
        f'{{"name": "t{lone}", "type": "http_error", "stream": "upstream",'
        f' "attributes": {{"body": "oops {lone}", "path": "/{lone}"}}}}'
    )
    response = await api.http.post(f"/proxies/{proxy}/toxics", content=toxic.encode())
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "t\ufffd"
    assert response.json()["attributes"]["body"] == "oops \ufffd"
    update = f'{{"attributes": {{"body": "{lone}{lone}"}}}}'
    toxic_path = f"/proxies/{proxy}/toxics/" + quote("t\ufffd", safe="")
    response = await api.http.patch(toxic_path, content=update.encode())
    assert response.status_code == 200, response.text
    assert response.json()["attributes"]["body"] == "\ufffd\ufffd"
    # An upstream that is not host:port: refused (500, as Toxiproxy), and nothing stored.
    response = await api.http.patch(
        f"/proxies/{proxy}", content=f'{{"upstream": "{lone}"}}'.encode()
    )
    assert response.status_code == 500
    proxies = await assert_healthy(api)
    assert proxies["p\ufffd"]["toxics"][0]["attributes"]["body"] == "\ufffd\ufffd"


# -- numbers Go's types cannot hold: Go's message, nothing stored ----------------------------


def _go_field(struct: str, field: str, go_type: str) -> str:
    return f"into Go struct field {struct}.{field} of type {go_type}"


@pytest.mark.parametrize(
    ("toxic_type", "attributes", "message"),
    [
        (
            "latency",
            b'{"latency": 100000000000000000000}',
            "number 100000000000000000000 "
            + _go_field("LatencyToxic", "attributes.latency", "int64"),
        ),
        (
            "latency",
            b'{"jitter": 9223372036854775808}',  # 2**63
            "number 9223372036854775808 " + _go_field("LatencyToxic", "attributes.jitter", "int64"),
        ),
        (
            "latency",
            b'{"latency": -9223372036854775809}',
            "number -9223372036854775809 "
            + _go_field("LatencyToxic", "attributes.latency", "int64"),
        ),
        (
            "latency",
            b'{"latency": 1.5}',
            "number 1.5 " + _go_field("LatencyToxic", "attributes.latency", "int64"),
        ),
        (
            "latency",
            b'{"latency": "100"}',
            "string " + _go_field("LatencyToxic", "attributes.latency", "int64"),
        ),
        (
            "bandwidth",
            b'{"rate": 100000000000000000000}',
            "number 100000000000000000000 "
            + _go_field("BandwidthToxic", "attributes.rate", "int64"),
        ),
        (
            "reset_peer",  # Toxiproxy's struct is ResetToxic
            b'{"timeout": 100000000000000000000}',
            "number 100000000000000000000 "
            + _go_field("ResetToxic", "attributes.timeout", "int64"),
        ),
        (
            "slicer",  # Toxiproxy's SlicerToxic fields are Go ints
            b'{"average_size": 9223372036854775808}',
            "number 9223372036854775808 "
            + _go_field("SlicerToxic", "attributes.average_size", "int"),
        ),
        (
            "limit_time",  # ours: our struct name, int64
            b'{"time": 100000000000000000000}',
            "number 100000000000000000000 "
            + _go_field("LimitTimeToxic", "attributes.time", "int64"),
        ),
    ],
)
async def test_an_integer_attribute_beyond_int64_gets_gos_message(
    api: Api, echo: Echo, toxic_type: str, attributes: bytes, message: str
) -> None:
    await api.http.post("/proxies", json={"name": "db", "upstream": echo.address})
    body = b'{"type": "%s", "attributes": %s}' % (toxic_type.encode(), attributes)
    response = await api.http.post("/proxies/db/toxics", content=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == f"bad request body: json: cannot unmarshal {message}"
    assert (await assert_healthy(api))["db"]["toxics"] == []
    # The same value in an update: the same message, the toxic unchanged.
    assert (await api.http.post("/proxies/db/toxics", json={"type": toxic_type})).status_code == 200
    before = (await api.http.get("/proxies/db/toxics")).content
    path = f"/proxies/db/toxics/{toxic_type}_downstream"
    response = await api.http.patch(path, content=b'{"attributes": %s}' % attributes)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == f"bad request body: json: cannot unmarshal {message}"
    assert (await api.http.get("/proxies/db/toxics")).content == before
    await assert_healthy(api)


async def test_the_largest_int64_is_accepted(api: Api, echo: Echo) -> None:
    await api.http.post("/proxies", json={"name": "db", "upstream": echo.address})
    body = {"type": "latency", "attributes": {"latency": 2**63 - 1}, "ttl_ms": 2**63 - 1}
    response = await api.http.post("/proxies/db/toxics", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["attributes"]["latency"] == 2**63 - 1
    await assert_healthy(api)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"type": "latency", "toxicity": 1e39}',
            "json: cannot unmarshal number 1e+39 "
            + _go_field("ToxicWrapper", "toxicity", "float32"),
        ),
        (
            b'{"type": "latency", "toxicity": 1' + b"0" * 400 + b"}",
            "json: cannot unmarshal number 1"
            + "0" * 400
            + " "
            + _go_field("ToxicWrapper", "toxicity", "float32"),
        ),
        (
            b'{"type": "latency", "ttl_ms": 100000000000000000000}',
            "json: cannot unmarshal number 100000000000000000000 "
            + _go_field("ToxicWrapper", "ttl_ms", "int64"),
        ),
        (
            b'{"type": "latency", "toxicity": 1e400}',
            "json: cannot unmarshal number 1e400 into Go value of type float64",
        ),
        (
            b'{"type": "latency", "attributes": {"latency": -1e400}}',
            "json: cannot unmarshal number -1e400 into Go value of type float64",
        ),
        (
            b'{"type": "latency", "unknown": [1e400]}',
            "json: cannot unmarshal number 1e400 into Go value of type float64",
        ),
        (b'{"type": "latency", "toxicity": NaN}', "invalid JSON: NaN is not a JSON value"),
        (
            b'{"type": "latency", "toxicity": -Infinity}',
            "invalid JSON: -Infinity is not a JSON value",
        ),
        (
            b'{"type": "latency", "toxicity": ' + b"9" * (MAX_JSON_NUMBER_DIGITS + 1) + b"}",
            f"invalid JSON: a number of {MAX_JSON_NUMBER_DIGITS + 1} digits "
            f"(more than {MAX_JSON_NUMBER_DIGITS}, the limit)",
        ),
    ],
)
async def test_numbers_no_go_type_holds_are_refused(
    api: Api, echo: Echo, body: bytes, message: str
) -> None:
    """``1e400`` (Python: inf), NaN and a 4,301-digit integer (Python: ValueError, a 500)
    are refused before anything is stored, wherever they are in the body."""
    await api.http.post("/proxies", json={"name": "db", "upstream": echo.address})
    response = await api.http.post("/proxies/db/toxics", content=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == f"bad request body: {message}"
    assert (await assert_healthy(api))["db"]["toxics"] == []


@pytest.mark.parametrize("path", ["/proxies", "/populate", "/proxies/db"])
async def test_an_overflowing_number_is_refused_on_every_endpoint(
    api: Api, echo: Echo, path: str
) -> None:
    await api.http.post("/proxies", json={"name": "db", "upstream": echo.address})
    before = await assert_healthy(api)
    body = b'{"name": "x", "upstream": "127.0.0.1:1", "enabled": true, "n": 1e999}'
    if path == "/populate":
        body = b"[" + body + b"]"
    response = await api.http.post(path, content=body)
    assert response.status_code == 400, response.text
    assert "cannot unmarshal number 1e999" in response.json()["error"]
    assert await assert_healthy(api) == before


async def test_a_toxicity_update_beyond_float32_names_the_anonymous_struct_as_go(
    api: Api, echo: Echo
) -> None:
    """Toxiproxy decodes an update into an anonymous struct: Go prints ``.toxicity``."""
    await api.http.post("/proxies", json={"name": "db", "upstream": echo.address})
    await api.http.post("/proxies/db/toxics", json={"type": "latency"})
    for body, message in [
        (b'{"toxicity": 1e39}', "number 1e+39 into Go struct field .toxicity of type float32"),
        (b'{"toxicity": "x"}', "string into Go struct field .toxicity of type float32"),
    ]:
        response = await api.http.patch("/proxies/db/toxics/latency_downstream", content=body)
        assert response.status_code == 400
        assert response.json()["error"] == f"bad request body: json: cannot unmarshal {message}"
    assert (await assert_healthy(api))["db"]["toxics"][0]["toxicity"] == 1


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_body_that_does_not_decompress_is_400_not_500(api: Api, encoding: str) -> None:
    response = await api.http.post(
        "/proxies", content=b"not compressed", headers={"Content-Encoding": encoding}
    )
    assert response.status_code == 400
    assert response.json()["error"] == (
        f"bad request body: cannot read the body (Content-Encoding: {encoding})"
    )
    assert await assert_healthy(api) == {}
