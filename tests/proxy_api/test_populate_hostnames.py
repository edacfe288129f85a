"""``/populate`` with a host name in ``listen``, as Toxiproxy's own Ruby client's tests and
"populate at every boot" set-ups send it.

A running proxy's ``listen`` is its bound address (``localhost:N`` shows as
``127.0.0.1:N``), so Toxiproxy 2.12 resolves an entry's ``listen`` before comparing
(``Proxy.Differs``): an unchanged entry keeps its proxy and toxics (201), a changed one
releases the old listener and binds the same address again (201), never "address already
in use".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from proxy_api_helpers import Api, Echo, split

from chaos_workbench.proxy.testing import Upstream, open_client, serve


async def tag_b(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An upstream that answers "B" to anything: shows which upstream a proxy reaches."""
    await reader.read(1)
    writer.write(b"B")
    await writer.drain()


@pytest.fixture
async def upstream_b() -> AsyncIterator[Upstream]:
    async with serve(tag_b) as upstream:
        yield upstream


async def answer(listen: str, payload: bytes = b"A") -> bytes:
    reader, writer = await open_client(listen)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.read(1), 5)
    finally:
        writer.close()
        await writer.wait_closed()


async def hostname_proxy(api: Api, upstream: str) -> tuple[dict[str, object], int]:
    """A proxy created with ``localhost:PORT`` (a port picked free, then named by host)."""
    first = await api.http.post("/proxies", json={"name": "db", "upstream": upstream})
    _, port = split(str(first.json()["listen"]))
    assert (await api.http.delete("/proxies/db")).status_code == 204
    created = await api.http.post(
        "/proxies", json={"name": "db", "listen": f"localhost:{port}", "upstream": upstream}
    )
    assert created.status_code == 201, created.text
    data: dict[str, object] = created.json()
    assert data["listen"] == f"127.0.0.1:{port}"  # shown resolved, as Toxiproxy shows it
    return data, port


async def test_repopulating_an_unchanged_hostname_entry_keeps_proxy_and_toxics(
    api: Api, echo: Echo
) -> None:
    _, port = await hostname_proxy(api, echo.address)
    toxic = {"type": "latency", "attributes": {"latency": 50}}
    assert (await api.http.post("/proxies/db/toxics", json=toxic)).status_code == 200
    reader, writer = await open_client(f"127.0.0.1:{port}")  # an open connection survives too
    try:
        body = [{"name": "db", "listen": f"localhost:{port}", "upstream": echo.address}]
        for _ in range(3):  # every boot populates again
            response = await api.http.post("/populate", json=body)
            assert response.status_code == 201, response.text
            (proxy,) = response.json()["proxies"]
            assert proxy["listen"] == f"127.0.0.1:{port}"
            assert [t["name"] for t in proxy["toxics"]] == ["latency_downstream"]
        writer.write(b"still here")
        await writer.drain()
        assert await asyncio.wait_for(reader.readexactly(10), 5) == b"still here"
    finally:
        writer.close()
        await writer.wait_closed()


async def test_repopulating_a_hostname_entry_with_a_new_upstream_rebinds_the_address(
    api: Api, echo: Echo, upstream_b: Upstream
) -> None:
    _, port = await hostname_proxy(api, echo.address)
    assert await answer(f"127.0.0.1:{port}") == b"A"  # the echo upstream
    toxic = {"type": "latency", "attributes": {"latency": 50}}
    assert (await api.http.post("/proxies/db/toxics", json=toxic)).status_code == 200
    body = [{"name": "db", "listen": f"localhost:{port}", "upstream": upstream_b.address}]
    response = await api.http.post("/populate", json=body)
    assert response.status_code == 201, response.text
    (proxy,) = response.json()["proxies"]
    # Replaced as Toxiproxy replaces: same address, new upstream, no toxics.
    assert (proxy["listen"], proxy["upstream"]) == (f"127.0.0.1:{port}", upstream_b.address)
    assert proxy["toxics"] == []
    assert await answer(f"127.0.0.1:{port}") == b"B"


async def test_an_unresolvable_listen_host_is_refused_and_changes_nothing(
    api: Api, echo: Echo
) -> None:
    await hostname_proxy(api, echo.address)
    before = (await api.http.get("/proxies")).content
    body = [{"name": "db", "listen": "no-such-host.invalid:1", "upstream": echo.address}]
    response = await api.http.post("/populate", json=body)
    assert response.status_code == 500
    assert response.json()["error"].startswith("listen tcp: lookup no-such-host.invalid: ")
    assert (await api.http.get("/proxies")).content == before
