"""The HTTP toxics through the Toxiproxy REST API, as a client would add them."""

from __future__ import annotations

import random
from typing import Any

import httpx

from chaos_workbench.proxy.api import ApiServer
from chaos_workbench.proxy.manager import ProxyManager


async def test_add_by_type_over_rest_and_see_it_act(upstream: Any, poll: Any) -> None:
    async with (
        ProxyManager(rng=random.Random(3)) as manager,
        ApiServer(manager, port=0) as api,
        httpx.AsyncClient(base_url=api.url, timeout=5) as http,
    ):
        r = await http.post(
            "/proxies", json={"name": "web", "listen": "127.0.0.1:0", "upstream": upstream.address}
        )
        assert r.status_code == 201
        listen = r.json()["listen"]
        r = await http.post(
            "/proxies/web/toxics",
            json={
                "type": "http_error",
                "attributes": {
                    "status": 429,
                    "body": "slow down",
                    "headers": {"Retry-After": "1"},
                    "method": "GET",
                    "path": "/api/*",
                },
            },
        )
        assert r.status_code == 200, r.text
        toxic = r.json()
        assert toxic["name"] == "http_error_downstream"
        assert toxic["attributes"]["headers"] == {"Retry-After": "1"}
        assert toxic["attributes"]["method"] == ["GET"]

        async with httpx.AsyncClient(base_url=f"http://{listen}", timeout=5) as web:
            got = await web.get("/api/users")
            assert (got.status_code, got.text, got.headers["retry-after"]) == (
                429,
                "slow down",
                "1",
            )
            assert (await web.get("/health")).status_code == 200

        r = await http.post(
            "/proxies/web/toxics", json={"type": "http_latency", "attributes": {"jitter_ms": -1}}
        )
        assert r.status_code == 400
        assert r.json()["status"] == 400
        assert "jitter_ms" in r.json()["error"]

        metrics = (await http.get("/metrics")).text
        assert 'toxic="http_error_downstream",type="http_error"' in metrics


async def test_passthrough_counters_at_metrics(upstream: Any) -> None:
    async with (
        ProxyManager(rng=random.Random(3)) as manager,
        ApiServer(manager, port=0) as api,
        httpx.AsyncClient(base_url=api.url, timeout=5) as http,
    ):
        text = (await http.get("/metrics")).text
        assert "cwb_proxy_http_passthrough_connections_total" in text
        assert "cwb_proxy_http_passthrough_bytes_total" in text
