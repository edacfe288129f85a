"""Proxy faults on several proxies at once (``proxies: [..]``, a partition), through our
proxy server against real echo upstreams: every link is cut (or slowed) during the fault
and restored after; all or nothing when one proxy cannot be acted on."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from faults_network_helpers import Rig, median_rtt_ms, round_trip_ms

from chaos_workbench.faults import FaultError
from chaos_workbench.faults.down import Down, DownParams
from chaos_workbench.faults.latency import Latency, LatencyParams
from chaos_workbench.faults.toxic import AnyToxic, ToxicParams
from chaos_workbench.safety.actions import RemoveToxic, SetProxyEnabled

TOLERANCE_MS = 10.0  # Toxiproxy's own tests: expected ± (jitter + 10 ms)


async def links(rig: Rig, echo_address: str, *names: str) -> dict[str, tuple[str, int]]:
    return {name: await rig.proxy(name, echo_address) for name in names}


async def passes(address: tuple[str, int]) -> bool:
    """True when a new connection through the proxy echoes a payload back."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(*address), 5)
    except OSError:
        return False
    try:
        await round_trip_ms(reader, writer)
        return True
    except (OSError, asyncio.IncompleteReadError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def test_down_on_three_proxies_cuts_every_link_and_restores_them(
    rig: Rig, echo_address: str
) -> None:
    addresses = await links(rig, echo_address, "n1-n2", "n1-n3", "n1-n4", "n2-n3")
    fault = Down(DownParams(proxies=("n1-n2", "n1-n3", "n1-n4")), rig.ctx)
    assert fault.revert_actions() == tuple(
        SetProxyEnabled(api_url=rig.client.api_url, proxy=name, enabled=True)
        for name in ("n1-n2", "n1-n3", "n1-n4")
    )
    assert fault.describe() == "n1-n2, n1-n3 and n1-n4 down"
    await fault.apply()
    for name in ("n1-n2", "n1-n3", "n1-n4"):
        assert not await passes(addresses[name]), name
        assert (await rig.client.proxy(name)).enabled is False
    assert await passes(addresses["n2-n3"])  # a link not in the list is untouched

    await fault.revert()
    await fault.revert()  # idempotent
    for name in ("n1-n2", "n1-n3", "n1-n4"):
        assert await passes(addresses[name]), name


async def test_down_failing_on_the_last_proxy_enables_the_first_ones_again(
    rig: Rig, echo_address: str
) -> None:
    addresses = await links(rig, echo_address, "a", "b")
    fault = Down(DownParams(proxies=("a", "b", "ghost")), rig.ctx)
    with pytest.raises(FaultError, match=r"cannot disable proxy 'ghost'.*enabled again: a, b"):
        await fault.apply()
    for name in ("a", "b"):
        assert (await rig.client.proxy(name)).enabled is True
        assert await passes(addresses[name]), name


async def test_latency_on_two_proxies_slows_both_and_not_a_third(
    rig: Rig, echo_address: str
) -> None:
    addresses = await links(rig, echo_address, "a", "b", "c")
    conns = {n: await asyncio.open_connection(*a) for n, a in addresses.items()}
    try:
        fault = Latency(LatencyParams(proxies=("a", "b"), latency_ms=80), rig.ctx)
        actions = fault.revert_actions()
        assert {(a.proxy, type(a)) for a in actions} == {("a", RemoveToxic), ("b", RemoveToxic)}
        await fault.apply()
        assert fault.describe() == "latency 80 ms on a and b"
        slowed = {n: await median_rtt_ms(*conns[n]) for n in ("a", "b", "c")}
        assert abs(slowed["a"] - 80) <= TOLERANCE_MS + 10, slowed
        assert abs(slowed["b"] - 80) <= TOLERANCE_MS + 10, slowed
        assert slowed["c"] < 40, slowed
        await fault.revert()
        assert await rig.client.toxics("a") == []
        assert await rig.client.toxics("b") == []
        restored = {n: await median_rtt_ms(*conns[n]) for n in ("a", "b")}
        assert all(rtt < 40 for rtt in restored.values()), restored
    finally:
        for _, writer in conns.values():
            writer.close()


async def test_a_toxic_failing_on_a_deleted_proxy_removes_it_from_the_first_ones(
    rig: Rig, echo_address: str
) -> None:
    addresses = await links(rig, echo_address, "a", "b", "c")
    await rig.client.delete_proxy("c")  # gone between the suite's setup and the fault
    fault = AnyToxic(
        ToxicParams(toxic="latency", proxies=("a", "b", "c"), attributes={"latency": 500}),
        rig.ctx,
    )
    with pytest.raises(FaultError, match=r"proxy 'c'.*removed again from a, b"):
        await fault.apply()
    for name in ("a", "b"):
        assert await rig.client.toxics(name) == []
        reader, writer = await asyncio.open_connection(*addresses[name])
        try:
            assert await median_rtt_ms(reader, writer) < 100  # not 500: nothing left behind
        finally:
            writer.close()


async def test_revert_enables_every_proxy_it_can_and_reports_the_one_it_cannot(
    rig: Rig, echo_address: str
) -> None:
    addresses = await links(rig, echo_address, "a", "b", "c")
    fault = Down(DownParams(proxies=("a", "b", "c")), rig.ctx)
    await fault.apply()
    await rig.client.delete_proxy("b")  # removed while the fault is held
    with pytest.raises(FaultError, match=r"cannot enable proxy 'b'"):
        await fault.revert()
    assert await passes(addresses["a"])
    assert await passes(addresses["c"])  # after the failing one, still enabled
