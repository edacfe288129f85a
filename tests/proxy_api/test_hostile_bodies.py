"""Bodies no client would send — 50 MB, 100,000 levels of nesting — get a 400 that names the
limit, at once, and the server goes on answering. (Toxiproxy reads any body; ours must not
fall over on one.)"""

from __future__ import annotations

import time

import pytest
from proxy_api_helpers import Api

from chaos_workbench.limits import MAX_API_BODY_BYTES, MAX_DEPTH


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
