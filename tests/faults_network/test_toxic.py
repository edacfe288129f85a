"""The generic ``toxic`` fault: any toxic type by name, validated at suite load."""

from __future__ import annotations

import asyncio

import pytest
from faults_network_helpers import Rig

from chaos_workbench.faults import registry
from chaos_workbench.faults.toxic import AnyToxic, ToxicParams


async def test_limit_data_toxic_cuts_the_connection(rig: Rig, echo_address: str) -> None:
    host, port = await rig.proxy("db", echo_address)
    fault = AnyToxic(ToxicParams(proxy="db", toxic="limit_data", attributes={"bytes": 10}), rig.ctx)
    await fault.apply()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"0123456789abcdefghij")
    received = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(100), 5):
            received += chunk
    except ConnectionResetError:
        pass
    assert received == b"0123456789"  # exactly the limit, then the connection ended
    writer.close()
    await fault.revert()
    await fault.revert()
    assert await rig.client.toxics("db") == []
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"0123456789abcdefghij")
    assert await asyncio.wait_for(reader.readexactly(20), 5) == b"0123456789abcdefghij"
    writer.close()


def test_unknown_types_and_bad_attributes_fail_at_load() -> None:
    model = registry.params_model("toxic")
    with pytest.raises(ValueError, match="unknown toxic type 'bandwith'"):
        model.model_validate({"type": "toxic", "proxy": "db", "toxic": "bandwith"})
    with pytest.raises(ValueError, match="bandwidth toxic: rate"):
        model.model_validate(
            {"type": "toxic", "proxy": "db", "toxic": "bandwidth", "attributes": {"rate": "x"}}
        )
    ok = model.model_validate(
        {"type": "toxic", "proxy": "db", "toxic": "bandwidth", "attributes": {"rate": 64}}
    )
    assert [r.name for r in ok.references()] == ["db"]
