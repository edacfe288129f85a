"""The control API never hangs on toxic removal: a toxic holding data on many busy
connections is removed at once, and every held byte is then delivered, in order."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time

from proxy_api_helpers import Api, Echo, split

CONNECTIONS = 20
PAYLOAD_BYTES = 256 * 1024


async def echo_all(host: str, port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(payload)
    received = await reader.readexactly(len(payload))
    writer.close()
    return received


async def test_remove_slow_toxic_under_load(api: Api, echo: Echo) -> None:
    created = (
        await api.http.post("/proxies", json={"name": "db", "upstream": echo.address})
    ).json()
    host, port = split(created["listen"])
    for stream in ("upstream", "downstream"):
        response = await api.http.post(
            "/proxies/db/toxics",
            json={"type": "bandwidth", "stream": stream, "attributes": {"rate": 16}},  # 16 KB/s
        )
        assert response.status_code == 200
    payloads = [os.urandom(PAYLOAD_BYTES) for _ in range(CONNECTIONS)]
    transfers = [asyncio.create_task(echo_all(host, port, p)) for p in payloads]
    await asyncio.sleep(0.3)  # data is now queued behind the throttle on every connection
    assert not any(t.done() for t in transfers)

    started = time.monotonic()
    for stream in ("upstream", "downstream"):
        response = await api.http.delete(f"/proxies/db/toxics/bandwidth_{stream}")
        assert response.status_code == 204
    assert time.monotonic() - started < 1.0

    # At 16 KB/s the transfers would take ~16 s each; without the toxic they finish at once.
    results = await asyncio.wait_for(asyncio.gather(*transfers), 10)
    for sent, got in zip(payloads, results, strict=True):
        assert hashlib.sha256(got).digest() == hashlib.sha256(sent).digest()
