"""The ``down`` fault: the proxy refuses new connections and drops open ones; revert
brings it back (idempotently)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from faults_network_helpers import Rig, round_trip_ms

from chaos_workbench.faults import FaultError
from chaos_workbench.faults.down import Down, DownParams
from chaos_workbench.safety.actions import SetProxyEnabled


async def test_down_drops_and_refuses_then_reverts(rig: Rig, echo_address: str) -> None:
    host, port = await rig.proxy("db", echo_address)
    reader, writer = await asyncio.open_connection(host, port)
    await round_trip_ms(reader, writer)

    fault = Down(DownParams(proxy="db"), rig.ctx)
    assert fault.revert_actions() == (
        SetProxyEnabled(api_url=rig.client.api_url, proxy="db", enabled=True),
    )
    await fault.apply()
    assert (await rig.client.proxy("db")).enabled is False
    # The open connection ends (EOF or reset), it does not hang.
    with contextlib.suppress(ConnectionResetError):
        assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(host, port)

    await fault.revert()
    await fault.revert()  # idempotent
    reader, writer = await asyncio.open_connection(host, port)
    assert await round_trip_ms(reader, writer) < 100
    writer.close()


async def test_down_on_unknown_proxy_is_a_fault_error(rig: Rig) -> None:
    with pytest.raises(FaultError, match="proxy not found"):
        await Down(DownParams(proxy="nope"), rig.ctx).apply()
