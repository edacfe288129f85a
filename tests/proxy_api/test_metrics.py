"""``/metrics`` in Prometheus text format, live while traffic flows (not only at close)."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families
from proxy_api_helpers import Api, Echo, split


async def scrape(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await api.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    for (sample_name, sample_labels), sample_value in samples.items():
        if sample_name == name and all(dict(sample_labels).get(k) == v for k, v in labels.items()):
            return sample_value
    raise AssertionError(f"no sample {name} {labels} in {sorted(samples)}")


async def test_metrics_update_while_a_connection_stays_open(api: Api, echo: Echo) -> None:
    created = (
        await api.http.post("/proxies", json={"name": "db", "upstream": echo.address})
    ).json()
    host, port = split(created["listen"])
    empty = await scrape(api)
    assert value(empty, "cwb_proxy_connections_open", proxy="db") == 0
    assert (
        value(empty, "toxiproxy_proxy_received_bytes_total", proxy="db", direction="upstream") == 0
    )

    reader, writer = await asyncio.open_connection(host, port)
    total = 0
    for _ in range(5):
        writer.write(b"x" * 1000)
        await reader.readexactly(1000)
        total += 1000
        live = await scrape(api)  # the connection is still open
        assert value(live, "cwb_proxy_connections_open", proxy="db") == 1
        assert value(live, "cwb_proxy_connections_total", proxy="db") == 1
        labels = {"proxy": "db", "listener": created["listen"], "upstream": echo.address}
        assert (
            value(live, "toxiproxy_proxy_received_bytes_total", direction="upstream", **labels)
            == total
        )
        assert (
            value(live, "toxiproxy_proxy_received_bytes_total", direction="downstream", **labels)
            == total
        )
    writer.close()
    await writer.wait_closed()

    async def closed() -> bool:
        return value(await scrape(api), "cwb_proxy_connections_open", proxy="db") == 0

    for _ in range(250):  # bounded: 5 s
        if await closed():
            break
        await asyncio.sleep(0.02)
    final = await scrape(api)
    assert value(final, "cwb_proxy_connections_open", proxy="db") == 0
    assert (
        value(final, "toxiproxy_proxy_received_bytes_total", proxy="db", direction="upstream")
        == total
    )


async def test_toxic_actions_are_counted_per_toxic(api: Api, echo: Echo) -> None:
    created = (
        await api.http.post("/proxies", json={"name": "db", "upstream": echo.address})
    ).json()
    await api.http.post(
        "/proxies/db/toxics", json={"name": "slow", "type": "latency", "attributes": {"latency": 1}}
    )
    reader, writer = await asyncio.open_connection(*split(created["listen"]))
    for _ in range(3):
        writer.write(b"ping")
        await reader.readexactly(4)
    samples = await scrape(api)
    acted = value(
        samples,
        "cwb_proxy_toxic_actions_total",
        proxy="db",
        toxic="slow",
        type="latency",
        stream="downstream",
    )
    assert acted >= 3  # at least one delayed chunk per echo
    assert value(samples, "cwb_proxy_enabled", proxy="db") == 1
    writer.close()


async def test_sent_bytes_count_what_left_after_the_toxics(api: Api, echo: Echo) -> None:
    """``toxiproxy_proxy_sent_bytes_total`` (Toxiproxy's name and labels) counts bytes
    written on: equal to those received with no toxic, short of them while a toxic drops."""
    created = (
        await api.http.post("/proxies", json={"name": "db", "upstream": echo.address})
    ).json()
    reader, writer = await asyncio.open_connection(*split(created["listen"]))
    writer.write(b"x" * 1000)
    await reader.readexactly(1000)
    labels = {"proxy": "db", "listener": created["listen"], "upstream": echo.address}
    samples = await scrape(api)
    for direction in ("upstream", "downstream"):
        assert value(
            samples, "toxiproxy_proxy_sent_bytes_total", direction=direction, **labels
        ) == (1000)
    # A timeout toxic of 0 (forever) swallows what the client sends from now on.
    added = await api.http.post(
        "/proxies/db/toxics",
        json={"type": "timeout", "stream": "upstream", "attributes": {"timeout": 0}},
    )
    assert added.status_code == 200
    writer.write(b"y" * 500)
    await writer.drain()

    async def received_up() -> float:
        samples = await scrape(api)
        return value(
            samples, "toxiproxy_proxy_received_bytes_total", direction="upstream", **labels
        )

    for _ in range(250):  # bounded: 5 s for the proxy to read the 500 bytes
        if await received_up() == 1500:
            break
        await asyncio.sleep(0.02)
    samples = await scrape(api)
    assert value(
        samples, "toxiproxy_proxy_received_bytes_total", direction="upstream", **labels
    ) == (1500)
    assert (
        value(samples, "toxiproxy_proxy_sent_bytes_total", direction="upstream", **labels) == 1000
    )
    writer.close()
    await writer.wait_closed()
