"""Every name the API accepts can be fetched, updated and deleted, with its toxics; names it
could never address (``/``, ``.``, ``..``, over the length bound) are refused up front.

The fuzzer created proxies named ``{}``, ``a/b`` and 9,000 characters long that no request
could reach afterwards (aiohttp's ``{name}`` excluded braces; the URL of a long name
overflowed the request line)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from proxy_api_helpers import Api, Echo, assert_healthy, exchange, raw_request

from chaos_workbench.limits import MAX_NAME_CHARS

ROUTABLE = [
    "{}",
    "{proxy}",
    "a b",
    "100%",
    "%2F",  # the text, not a slash
    "%25",
    "%ED%A0%80",  # the text of an escape of invalid UTF-8
    "?x#y&z=1",
    "+plus+",
    "ünïcødé",
    "😀",
    "\ufffd",
    "tab\there",
    "crlf\r\nX-Injected: 1",
    "nul\x00",
    "...",
    ".hidden",
    "x" * MAX_NAME_CHARS,
    "😀" * MAX_NAME_CHARS,  # the longest URL: 12 bytes a character, percent-encoded
]


def url(name: str) -> str:
    return quote(name, safe="")


@pytest.mark.parametrize("name", ROUTABLE, ids=lambda n: repr(n[:12]) + f"x{len(n)}")
async def test_an_accepted_name_can_be_fetched_updated_and_deleted(
    api: Api, echo: Echo, name: str
) -> None:
    response = await api.http.post("/proxies", json={"name": name, "upstream": echo.address})
    assert response.status_code == 201, response.text
    proxy = f"/proxies/{url(name)}"
    assert (await api.http.get(proxy)).json()["name"] == name
    response = await api.http.patch(proxy, json={"enabled": False})
    assert (response.status_code, response.json()["enabled"]) == (200, False)
    response = await api.http.post(proxy, json={"enabled": True})  # the deprecated spelling
    assert (response.status_code, response.json()["enabled"]) == (200, True)
    # A toxic of the same name, at the longest URL the API serves.
    response = await api.http.post(f"{proxy}/toxics", json={"name": name, "type": "latency"})
    assert response.status_code == 200, response.text
    toxic = f"{proxy}/toxics/{url(name)}"
    assert (await api.http.get(toxic)).json()["name"] == name
    response = await api.http.patch(toxic, json={"attributes": {"latency": 5}})
    assert (response.status_code, response.json()["attributes"]["latency"]) == (200, 5)
    response = await api.http.post(toxic, json={"toxicity": 0.5})
    assert (response.status_code, response.json()["toxicity"]) == (200, 0.5)
    assert [t["name"] for t in (await api.http.get(f"{proxy}/toxics")).json()] == [name]
    assert [t["name"] for t in (await assert_healthy(api))[name]["toxics"]] == [name]
    assert (await api.http.delete(toxic)).status_code == 204
    assert (await api.http.delete(proxy)).status_code == 204
    assert await assert_healthy(api) == {}


async def test_names_are_decoded_from_the_url_exactly(api: Api, echo: Echo) -> None:
    """``%ED%A0%80`` is not UTF-8: it names nothing (Go compares the raw bytes), not the
    proxy whose name is that text, which is reached at ``%25ED%25A0%2580``."""
    await api.http.post("/proxies", json={"name": "%ED%A0%80", "upstream": echo.address})
    assert (await api.http.get("/proxies/%ED%A0%80")).status_code == 404
    assert (await api.http.get("/proxies/%25ED%25A0%2580")).status_code == 200
    # Unencoded braces, as a client that does not quote sends them (gorilla/mux: [^/]+).
    await api.http.post("/proxies", json={"name": "{x}", "upstream": echo.address})
    response = await exchange(api.url, raw_request(b"GET", b"/proxies/{x}"))
    assert response.status == 200, response.body
    await assert_healthy(api)


REFUSED = [
    ("a/b", 'contains "/": a name is one segment of the URL, so it could not be addressed'),
    ("/", 'contains "/": a name is one segment of the URL, so it could not be addressed'),
    (".", 'is ".": URLs drop it as a dot-segment, so it could not be addressed'),
    ("..", 'is "..": URLs drop it as a dot-segment, so it could not be addressed'),
    ("x" * (MAX_NAME_CHARS + 1), f"is longer than {MAX_NAME_CHARS} characters (the limit)"),
    ("x" * 9000, f"is longer than {MAX_NAME_CHARS} characters (the limit)"),
]


@pytest.mark.parametrize(("name", "why"), REFUSED, ids=lambda v: repr(v[:8]))
async def test_an_unaddressable_name_is_refused_everywhere(
    api: Api, echo: Echo, name: str, why: str
) -> None:
    response = await api.http.post("/proxies", json={"name": name, "upstream": echo.address})
    assert (response.status_code, response.json()["error"]) == (
        400,
        f"bad request body: name {why}",
    )
    response = await api.http.post(
        "/populate",
        json=[{"name": "ok", "upstream": echo.address}, {"name": name, "upstream": echo.address}],
    )
    assert response.status_code == 400
    assert response.json()["error"] == f"bad request body: name at proxy 2 {why}"
    assert await assert_healthy(api) == {}  # populate checks every entry before it creates
    await api.http.post("/proxies", json={"name": "db", "upstream": echo.address})
    response = await api.http.post("/proxies/db/toxics", json={"name": name, "type": "latency"})
    assert (response.status_code, response.json()["error"]) == (
        400,
        f"bad request body: name {why}",
    )
    assert (await assert_healthy(api))["db"]["toxics"] == []
