"""The ``latency`` fault through our proxy against a real echo server: measured delay on
open and new connections, revert (idempotent), lease actions, time-to-live."""

from __future__ import annotations

import asyncio
import time

import pytest
from faults_network_helpers import Rig, median_rtt_ms

from chaos_workbench.faults import FaultError, registry
from chaos_workbench.faults.latency import Latency, LatencyParams
from chaos_workbench.safety.actions import RemoveToxic

TOLERANCE_MS = 10.0  # Toxiproxy's own tests: expected ± (jitter + 10 ms)


async def test_latency_applies_to_open_and_new_connections_and_reverts(
    rig: Rig, echo_address: str
) -> None:
    host, port = await rig.proxy("db", echo_address)
    reader, writer = await asyncio.open_connection(host, port)  # open before the fault
    baseline = await median_rtt_ms(reader, writer)
    assert baseline < 20

    fault = Latency(LatencyParams(proxy="db", latency_ms=100), rig.ctx)
    await fault.apply()
    await fault.apply()  # idempotent: still one toxic
    toxics = await rig.client.toxics("db")
    assert len(toxics) == 1
    assert (toxics[0].type, toxics[0].stream) == ("latency", "downstream")
    assert toxics[0].attributes["latency"] == 100

    open_rtt = await median_rtt_ms(reader, writer)
    assert abs(open_rtt - 100) <= TOLERANCE_MS + baseline, open_rtt
    reader2, writer2 = await asyncio.open_connection(host, port)
    new_rtt = await median_rtt_ms(reader2, writer2)
    assert abs(new_rtt - 100) <= TOLERANCE_MS + baseline, new_rtt

    await fault.revert()
    assert await rig.client.toxics("db") == []
    assert await median_rtt_ms(reader, writer) < 20
    await fault.revert()  # idempotent
    for w in (writer, writer2):
        w.close()


async def test_both_streams_double_the_round_trip(rig: Rig, echo_address: str) -> None:
    host, port = await rig.proxy("db", echo_address)
    fault = Latency(LatencyParams(proxy="db", latency_ms=60, stream="both"), rig.ctx)
    await fault.apply()
    assert sorted(t.stream for t in await rig.client.toxics("db")) == ["downstream", "upstream"]
    reader, writer = await asyncio.open_connection(host, port)
    assert abs(await median_rtt_ms(reader, writer) - 120) <= 2 * TOLERANCE_MS
    await fault.revert()
    assert await rig.client.toxics("db") == []
    writer.close()


async def test_revert_actions_name_the_toxics(rig: Rig, echo_address: str) -> None:
    await rig.proxy("db", echo_address)
    fault = Latency(LatencyParams(proxy="db", latency_ms=5), rig.ctx)
    actions = fault.revert_actions()  # known before apply: written to the lease first
    await fault.apply()
    names = [t.name for t in await rig.client.toxics("db")]
    assert actions == (RemoveToxic(api_url=rig.client.api_url, proxy="db", toxic=names[0]),)
    await fault.revert()


async def test_two_latency_faults_on_one_proxy_do_not_collide(rig: Rig, echo_address: str) -> None:
    await rig.proxy("db", echo_address)
    first = Latency(LatencyParams(proxy="db", latency_ms=5), rig.ctx)
    second = Latency(LatencyParams(proxy="db", latency_ms=5), rig.ctx)
    await first.apply()
    await second.apply()
    assert len(await rig.client.toxics("db")) == 2
    await first.revert()
    assert len(await rig.client.toxics("db")) == 1
    await second.revert()


async def test_toxic_expires_by_its_ttl(rig: Rig, echo_address: str) -> None:
    await rig.proxy("db", echo_address)
    fault = Latency(LatencyParams(proxy="db", latency_ms=5, ttl_s=0.2), rig.ctx)
    await fault.apply()
    assert len(await rig.client.toxics("db")) == 1
    deadline = time.monotonic() + 5
    while await rig.client.toxics("db"):
        assert time.monotonic() < deadline, "the toxic outlived its ttl"
        await asyncio.sleep(0.02)
    await fault.revert()  # nothing left to remove: still fine


def test_ttl_defaults_follow_the_hold() -> None:
    assert LatencyParams(proxy="p", latency_ms=1, ttl_s=3).ttl_ms() == 3000
    assert LatencyParams(proxy="p", latency_ms=1, duration_s=10).ttl_ms() == 130_000
    assert LatencyParams(proxy="p", latency_ms=1).ttl_ms() == 900_000


async def test_unknown_proxy_fails_cleanly(rig: Rig) -> None:
    fault = Latency(LatencyParams(proxy="missing", latency_ms=5), rig.ctx)
    with pytest.raises(FaultError, match="proxy not found"):
        await fault.apply()
    await fault.revert()  # harmless after a failed apply


def test_params_validate_and_reference_the_proxy() -> None:
    model = registry.params_model("latency")
    params = model.model_validate({"type": "latency", "proxy": "db", "latency_ms": 500})
    assert [(r.kind, r.name) for r in params.references()] == [("proxy", "db")]
    for bad in ({"latency_ms": -1}, {"latency_ms": 2.5}, {"latency_ms": 5, "stream": "up"}):
        with pytest.raises(ValueError, match="validation error"):
            model.model_validate({"type": "latency", "proxy": "db", **bad})
