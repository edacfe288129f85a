"""``ToxiproxyClient`` against our API, and ``start_proxy_server`` (a child in its own
session, stopped with ``aclose``)."""

from __future__ import annotations

import os
import socket

import pytest
from proxy_api_helpers import Api, Echo

from chaos_workbench.faults.base import ProxyControl
from chaos_workbench.proxy.client import (
    ProxyApiError,
    ProxyApiUnreachable,
    ToxiproxyClient,
    start_proxy_server,
)


async def test_client_round_trip_and_errors(api: Api, echo: Echo) -> None:
    async with ToxiproxyClient(api.url.removeprefix("http://")) as client:  # scheme optional
        control: ProxyControl = client  # the faults' protocol
        assert control.api_url == api.url
        assert (await client.version()).startswith("2.12.0")
        proxy = await client.create_proxy("db", echo.address)
        assert proxy.enabled
        assert proxy.listen.startswith("127.0.0.1:")
        toxic = await client.create_toxic(
            "db", type="latency", attributes={"latency": 5}, ttl_ms=60_000
        )
        assert (toxic.name, toxic.stream, toxic.toxicity) == ("latency_downstream", "downstream", 1)
        updated = await client.update_toxic("db", toxic.name, attributes={"jitter": 1})
        assert updated.attributes == {**toxic.attributes, "jitter": 1}
        assert [t.name for t in (await client.proxy("db")).toxics] == [toxic.name]
        await client.remove_toxic("db", toxic.name)
        await client.remove_toxic("db", toxic.name)  # absent: not an error
        await client.remove_toxic("no-proxy", "x")  # neither is a missing proxy
        await client.set_enabled("db", False)
        assert not (await client.proxies())["db"].enabled
        await client.reset()
        assert (await client.proxy("db")).enabled
        with pytest.raises(ProxyApiError) as caught:
            await client.create_proxy("db", echo.address)
        assert (caught.value.status, caught.value.message) == (409, "proxy already exists")
        with pytest.raises(ProxyApiError, match="invalid toxic type"):
            await client.add_toxic("db", name="x", type="nope")
        populated = await client.populate([{"name": "b", "upstream": echo.address}])
        assert [p.name for p in populated] == ["b"]
        await client.delete_proxy("b")
        with pytest.raises(ProxyApiError, match="proxy not found"):
            await client.delete_proxy("b")


async def test_unreachable_api() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        async with ToxiproxyClient(url, timeout_s=2) as client:
            with pytest.raises(ProxyApiUnreachable):
                await client.proxies()


async def test_start_proxy_server_and_aclose(echo: Echo) -> None:
    handle = await start_proxy_server(seed=3)
    try:
        async with ToxiproxyClient(handle.api_url) as client:
            assert (await client.version()).startswith("2.12.0")
            proxy = await client.create_proxy("db", echo.address)
            assert proxy.listen.startswith("127.0.0.1:")
        pgid = os.getpgid(handle.pid)
        assert pgid == handle.pid  # its own session and process group
    finally:
        await handle.aclose()
    assert handle.returncode == 0
    await handle.aclose()  # idempotent
    async with ToxiproxyClient(handle.api_url, timeout_s=2) as client:
        with pytest.raises(ProxyApiUnreachable):
            await client.version()
